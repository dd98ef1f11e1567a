package consent

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Approving: the right code (or, for a legal representative, the choice of
// whose documents) turns a challenge into a grant, with the deliveries it
// needs, in one transaction. A consent may change a grant its partner holds
// (merge, replace) instead of making one; a new grant replaces the
// citizen's earlier ones for the same partner and holders.

// ApproveRequest is the citizen's answer on the code page.
type ApproveRequest struct {
	ChallengeID string
	// PendingID, when set, is the authorization request the answer is
	// to: a challenge started for another is unknown.
	PendingID string
	Session   string
	Code      string
	Documents []DocumentType // the selection as the page posted it
	Days      int
	Purpose   string
	// Holders, once the citizen was asked (see ErrChooseHolders), are the
	// positions in Holders' list of those whose documents to share; nil
	// before.
	Holders []int
	// Asked are the holders the partner named (Request.AskedHolders):
	// the citizen may share only theirs. None: anybody's the citizen
	// represents.
	Asked []string
	// Change and Action, when the partner asked to merge into or replace
	// a grant it holds, name it and say how (GrantCreate otherwise).
	Change string
	Action GrantAction
	// Allowed are the documents the partner may be granted now: a merge
	// keeps only these of the grant's.
	Allowed []DocumentType
	// Read, when the caller has just read the challenge (Service.Challenge
	// with this session), saves reading it again; a concurrent change is
	// still caught, since every write compares versions.
	Read *Challenge
	// Carried, when the browser carried the challenge back
	// (CarriedChallenge with this session), lets the code be settled in
	// one statement, without reading the challenge first
	// (Store.ApproveProved), while the challenge is at the version
	// carried: a right code uses it, a wrong one (a decoy's too) counts a
	// try, as after reading it, where each answer settles its code by one
	// compare-and-swap at the version it read. So answers sent at once get
	// no more tries than answers sent in turn: of those carrying one
	// version, one settles its code and the others read the challenge. An
	// answer for a challenge used, dead, expired or moved on, or a right
	// code of a citizen who represents minors, reads it and is answered as
	// without it.
	Carried *Challenge
}

// ErrChooseHolders: the code was right and the citizen represents minors:
// they must say whose documents the grant covers (Service.Holders lists
// them by name) before it is recorded. The challenge is verified; the next
// Approve takes the choice without a code.
var ErrChooseHolders = errors.New("choose whose documents to share")

// ErrNoHolder: the citizen chose nobody's documents.
var ErrNoHolder = newError(KindInvalid, "err_no_holder", "no holder was chosen")

// Approve checks the code and, when it is right, records the grant. A
// citizen who represents minors is first asked whose documents to share
// (ErrChooseHolders); the grant names each holder.
//
// Returns *WrongCodeError (a try is spent; the last one kills the
// challenge), ErrCodeDead, ErrCodeExpired, ErrCodeUsed,
// ErrSelectionChanged (the selection differs from what the code was sent
// for; no try is spent), ErrChooseHolders, ErrNoHolder,
// ErrUnknownChallenge, and — when it changes a grant — ErrGrantGone or
// ErrOtherCitizen.
func (s *Service) Approve(ctx context.Context, r ApproveRequest) (Grant, error) {
	if g, ok, err := s.approveCarried(ctx, r); ok {
		return g, err
	}
	for {
		c, err := s.verified(ctx, r)
		r.Read = nil // after a stale write, read it again
		if err != nil {
			return Grant{}, err
		}
		allowed := allowedPositions(c, r.Asked)
		if len(c.Represents) > 0 && r.Holders == nil && !slices.Equal(allowed, []int{0}) && len(allowed) > 0 {
			if c.Status == ChallengePending {
				c.Status = ChallengeVerified
				if err := s.store.UpdateChallenge(ctx, c); errors.Is(err, ErrStale) {
					continue
				} else if err != nil {
					return Grant{}, err
				}
			}
			return Grant{}, ErrChooseHolders
		}
		holders, err := chosen(c, r.Holders, allowed)
		if err != nil {
			return Grant{}, err
		}
		now := s.now()
		ends := now.Add(time.Duration(c.Days) * 24 * time.Hour)
		g := Grant{
			ID: newID(), Citizen: c.Citizen, PartnerID: c.PartnerID, Holders: holders, Documents: c.Documents, Purpose: r.Purpose,
			CreatedAt: now, ExpiresAt: ends, TermsVersion: s.terms.Version, TermsDigest: s.terms.Digest(), ChallengeID: c.ID, Status: GrantActive,
			Method: c.Method.OrDefault(),
		}
		if r.Action != GrantCreate {
			old, err := s.changing(ctx, r.Change, c.PartnerID, c.Citizen)
			if err != nil {
				return Grant{}, err
			}
			g = old.Changed(r.Action, c.Documents, holders, ends, r.Purpose, s.terms, c.ID, r.Allowed)
			g.Method = c.Method.OrDefault()
		}
		c.Status = ChallengeUsed
		due := g
		due.CreatedAt = now // the deliveries a change needs are due now
		out, tell, err := s.outbox.ForGrant(ctx, due)
		if err != nil {
			return Grant{}, err
		}
		if r.Action == GrantCreate {
			_, err = s.store.ApproveAndReplace(ctx, c, g, out, tell)
		} else {
			err = s.store.ChangeGrant(ctx, c, g, r.Action, now, out)
		}
		if errors.Is(err, ErrStale) {
			continue
		}
		if err != nil {
			return Grant{}, err
		}
		s.log.InfoContext(ctx, "grant approved", "grant", g.ID, "action", string(r.Action), "partner", g.PartnerID, "iin", g.Citizen.Masked())
		if r.Action != GrantCreate {
			s.replaceOthers(ctx, g, now, tell)
		}
		return g, nil
	}
}

// approveCarried settles the code of the challenge the browser carried
// back, in the statement that uses it or counts a try
// (Store.ApproveProved), for a new grant of the citizen's own documents.
// ok is false when the answer is not one it takes, or the challenge is
// not at the version carried: then nothing was written, and Approve reads
// the challenge. A decoy's answer goes the same way as a wrong code's.
func (s *Service) approveCarried(ctx context.Context, r ApproveRequest) (g Grant, ok bool, err error) {
	c := r.Carried
	if c == nil || r.Read != nil || r.Action != GrantCreate || r.Holders != nil || c.ID != r.ChallengeID || c.PendingID != r.PendingID ||
		c.Method.OrDefault() != MethodSMS || (len(r.Asked) > 0 && !slices.Contains(r.Asked, HolderSelf)) ||
		!hmac.Equal([]byte(c.Session), []byte(s.SessionKey(r.Session))) || !sameSelection(c.Documents, c.Days, r.Documents, r.Days) {
		return Grant{}, false, nil
	}
	now := s.now()
	if !now.Before(c.ExpiresAt) {
		return Grant{}, false, nil
	}
	g = Grant{
		ID: newID(), Citizen: c.Citizen, PartnerID: c.PartnerID, Holders: []IIN{c.Citizen}, Documents: c.Documents, Purpose: r.Purpose,
		CreatedAt: now, ExpiresAt: now.Add(time.Duration(c.Days) * 24 * time.Hour), TermsVersion: s.terms.Version, TermsDigest: s.terms.Digest(),
		ChallengeID: c.ID, Status: GrantActive, Method: MethodSMS,
	}
	out, tell, err := s.outbox.ForGrant(ctx, g)
	if err != nil {
		return Grant{}, false, nil // answered as without it, which needs the partner only for a right code
	}
	_, err = s.store.ApproveProved(ctx, *c, codeHash(s.key, *c, strings.TrimSpace(r.Code)), now, s.cfg.MaxAttempts, g, out, tell)
	switch {
	case errors.Is(err, ErrStale):
		return Grant{}, false, nil
	case errors.Is(err, ErrCodeDead):
		s.observe(OTPLocked)
		return Grant{}, true, err
	case errors.As(err, new(*WrongCodeError)):
		s.observe(OTPWrong)
		return Grant{}, true, err
	case err != nil:
		return Grant{}, true, err
	}
	s.observe(OTPRight)
	s.log.InfoContext(ctx, "grant approved", "grant", g.ID, "action", string(r.Action), "partner", g.PartnerID, "iin", g.Citizen.Masked())
	return g, true, nil
}

// verified returns the challenge once the citizen has proved the phone:
// by the code, or, for a verified challenge, earlier.
func (s *Service) verified(ctx context.Context, r ApproveRequest) (Challenge, error) {
	var c Challenge
	if r.Read != nil && r.Read.ID == r.ChallengeID && hmac.Equal([]byte(r.Read.Session), []byte(s.SessionKey(r.Session))) {
		c = *r.Read
	} else {
		var err error
		if c, err = s.Challenge(ctx, r.ChallengeID, r.Session); err != nil {
			return Challenge{}, err
		}
	}
	if r.PendingID != "" && c.PendingID != r.PendingID {
		return Challenge{}, ErrUnknownChallenge
	}
	if c.Status != ChallengeVerified {
		return s.checkCode(ctx, c, r.Session, r.Code, r.Documents, r.Days)
	}
	if !s.now().Before(c.ExpiresAt) {
		return Challenge{}, ErrCodeExpired
	}
	if !sameSelection(c.Documents, c.Days, r.Documents, r.Days) {
		return Challenge{}, ErrSelectionChanged
	}
	return c, nil
}

// HolderChoice is one person whose documents a citizen may share.
type HolderChoice struct {
	IIN      IIN
	Name     string
	Relation string // RelationSelf or RelationRepresented
	Position int    // what ApproveRequest.Holders names it by
}

// Holders lists, by name, whose documents the citizen of a verified
// challenge may share: themselves, then the minors they represent. The
// positions are what ApproveRequest.Holders refers to.
func (s *Service) Holders(ctx context.Context, challengeID, session string, asked []string) ([]HolderChoice, error) {
	c, err := s.Challenge(ctx, challengeID, session)
	if err != nil {
		return nil, err
	}
	if c.Status != ChallengeVerified {
		return nil, ErrUnknownChallenge
	}
	allowed := allowedPositions(c, asked)
	out := make([]HolderChoice, 0, 1+len(c.Represents))
	for i, iin := range append([]IIN{c.Citizen}, c.Represents...) {
		if !slices.Contains(allowed, i) {
			continue
		}
		p, err := s.registry.Citizen(ctx, iin)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrRegistryUnavailable, err)
		}
		h := HolderChoice{IIN: iin, Name: p.Name, Relation: RelationSelf, Position: i}
		if i > 0 {
			h.Relation = RelationRepresented
		}
		out = append(out, h)
	}
	return out, nil
}

// allowedPositions are the positions (0 the citizen, 1… the minors the
// challenge knows) whose documents may be shared: all, or those the
// partner asked for.
func allowedPositions(c Challenge, asked []string) []int {
	var out []int
	for i, iin := range append([]IIN{c.Citizen}, c.Represents...) {
		label := string(iin)
		if i == 0 {
			label = HolderSelf
		}
		if len(asked) == 0 || slices.Contains(asked, label) {
			out = append(out, i)
		}
	}
	return out
}

// chosen is the holders a choice of positions names, among the allowed:
// the citizen (0) and the minors the challenge knows (1…). When only the
// citizen may be chosen, the citizen shares their own documents.
func chosen(c Challenge, positions, allowed []int) ([]IIN, error) {
	if len(allowed) == 0 {
		return nil, ErrNoHolder // the partner asked only for minors the citizen does not represent
	}
	if len(c.Represents) == 0 || slices.Equal(allowed, []int{0}) {
		return []IIN{c.Citizen}, nil
	}
	all := append([]IIN{c.Citizen}, c.Represents...)
	var out []IIN
	for _, i := range positions {
		if !slices.Contains(allowed, i) {
			return nil, ErrSelectionChanged
		}
		if !slices.Contains(out, all[i]) {
			out = append(out, all[i])
		}
	}
	if len(out) == 0 {
		return nil, ErrNoHolder
	}
	return out, nil
}

// changing returns the grant a consent merges into or replaces: active,
// its partner's, and given by the citizen consenting now.
func (s *Service) changing(ctx context.Context, id, partner string, citizen IIN) (Grant, error) {
	g, err := s.store.GetGrant(ctx, id)
	switch {
	case errors.Is(err, ErrGrantNotFound):
		return Grant{}, ErrGrantGone
	case err != nil:
		return Grant{}, err
	case g.PartnerID != partner || !g.ActiveAt(s.now()):
		return Grant{}, ErrGrantGone
	case g.Citizen != citizen:
		return Grant{}, ErrOtherCitizen
	}
	return g, nil
}

// replaceOthers ends the citizen's other grants for the same partner that
// g replaces: those covering one of its holders, and those given under
// older terms, which work only until the partner asks for consent again,
// as it just did. Nothing is re-consented silently: g is the citizen's
// own, given with a code. The partner is told of each, in the same
// transaction.
func (s *Service) replaceOthers(ctx context.Context, g Grant, now time.Time, tell Tell) {
	if _, err := s.store.ReplaceGrants(ctx, g, now, tell); err != nil {
		s.log.ErrorContext(ctx, "end the grants a new one replaces", "grant", g.ID, "err", err)
	}
}
