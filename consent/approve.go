package consent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Approving: the right code (or, for a legal representative, the choice of
// whose documents) turns a challenge into a grant, with the deliveries it
// needs, in one transaction; grants under older terms for the same partner
// end with it.

// ApproveRequest is the citizen's answer on the code page.
type ApproveRequest struct {
	ChallengeID string
	Session     string
	Code        string
	Documents   []DocumentType // the selection as the page posted it
	Days        int
	Purpose     string
	// Holders, once the citizen was asked (see ErrChooseHolders), are the
	// positions in Holders' list of those whose documents to share; nil
	// before.
	Holders []int
	// Asked are the holders the partner named (Request.AskedHolders):
	// the citizen may share only theirs. None: anybody's the citizen
	// represents.
	Asked []string
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
// for; no try is spent), ErrChooseHolders, ErrNoHolder or
// ErrUnknownChallenge.
func (s *Service) Approve(ctx context.Context, r ApproveRequest) (Grant, error) {
	for {
		c, err := s.verified(ctx, r)
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
		g := Grant{
			ID: newID(), Citizen: c.Citizen, PartnerID: c.PartnerID, Holders: holders, Documents: c.Documents, Purpose: r.Purpose,
			CreatedAt: now, ExpiresAt: now.Add(time.Duration(c.Days) * 24 * time.Hour), TermsVersion: s.terms,
			ChallengeID: c.ID, Status: GrantActive,
		}
		c.Status = ChallengeUsed
		out, err := s.outbox.ForGrant(ctx, g)
		if err != nil {
			return Grant{}, err
		}
		err = s.store.ApproveChallenge(ctx, c, g, out)
		if errors.Is(err, ErrStale) {
			continue
		}
		if err != nil {
			return Grant{}, err
		}
		s.log.InfoContext(ctx, "grant created", "grant", g.ID, "partner", g.PartnerID, "iin", g.Citizen.Masked())
		s.supersede(ctx, g)
		return g, nil
	}
}

// verified returns the challenge once the citizen has proved the phone:
// by the code, or, for a verified challenge, earlier.
func (s *Service) verified(ctx context.Context, r ApproveRequest) (Challenge, error) {
	c, err := s.Challenge(ctx, r.ChallengeID, r.Session)
	if err != nil {
		return Challenge{}, err
	}
	if c.Status != ChallengeVerified {
		return s.checkCode(ctx, r.ChallengeID, r.Session, r.Code, r.Documents, r.Days)
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

// supersede ends the citizen's grants for the same partner given under an
// older version of the terms: they work only until the partner asks for
// consent again, and it just did. Nothing is re-consented silently: the
// new grant is the citizen's own, given with a code.
func (s *Service) supersede(ctx context.Context, g Grant) {
	ended, err := s.janitor.SupersedeGrants(ctx, g.Citizen, g.PartnerID, g.TermsVersion, g.CreatedAt)
	if err == nil {
		err = s.outbox.NotifyEnded(ctx, ended, g.CreatedAt)
	}
	if err != nil {
		s.log.ErrorContext(ctx, "supersede grants under old terms", "grant", g.ID, "err", err)
	}
}
