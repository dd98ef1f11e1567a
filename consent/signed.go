package consent

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Consent and log-in by digital signature, beside the SMS code (as the
// eGov service allows): the citizen signs a one-time challenge with the
// certificate the national CA issued them. The challenge is stored like a
// code's — bound to the browser, one use, the same lifetime — but no code
// is sent and none verifies it: only a signature, by a certificate whose
// IIN is the one typed, moves it on. What is signed says what is agreed:
// the partner, the documents, the duration and the challenge.

// SignaturesOffered reports whether the gateway takes digital signatures.
func (s *Service) SignaturesOffered() bool { return s.sig != nil }

// StartSigned makes a challenge to sign for a consent (or, with
// LoginPartner, a log-in) as Start does, but sends nothing: it answers the
// same whether or not the registry knows the IIN. Returns *InputError for
// a malformed IIN, ErrNoSignatureCA when signatures are not offered,
// ErrNoDocuments, *RateLimitError past the address's limit, and, for a
// request that changes a grant, ErrGrantGone or ErrOtherCitizen.
func (s *Service) StartSigned(ctx context.Context, r StartRequest) (Challenge, error) {
	if s.sig == nil {
		return Challenge{}, ErrNoSignatureCA
	}
	iin, err := ParseIIN(r.IIN)
	if err != nil {
		return Challenge{}, &InputError{Field: "iin", Err: err}
	}
	if len(r.Documents) == 0 && r.PartnerID != LoginPartner && !r.NoDocuments {
		return Challenge{}, ErrNoDocuments
	}
	now := s.now()
	if err := s.count(ctx, "", r.ClientIP, now); err != nil {
		return Challenge{}, err
	}
	if r.Changes != "" {
		if _, err := s.changing(ctx, r.Changes, r.PartnerID, iin); err != nil {
			return Challenge{}, err
		}
	}
	citizen, err := s.registry.Citizen(ctx, iin)
	switch {
	case errors.Is(err, ErrUnknownCitizen):
	case err != nil:
		return Challenge{}, fmt.Errorf("%w: %v", ErrRegistryUnavailable, err)
	}
	c := Challenge{
		ID: newID(), PendingID: r.PendingID, PartnerID: r.PartnerID, Session: s.SessionKey(r.Session),
		Documents: r.Documents, Days: r.Days, Status: ChallengePending, Lang: r.Lang, Method: MethodSignature,
		CreatedAt: now, SentAt: now, ExpiresAt: now.Add(s.cfg.TTL), Version: 1,
	}
	c.CodeHash = codeHash(s.key, c, newID()) // no code verifies it
	if err == nil {
		c.Citizen, c.Represents = iin, minorsAt(citizen.Represents, now)
	}
	if err := s.store.CreateChallenge(ctx, c); err != nil {
		return Challenge{}, err
	}
	s.log.InfoContext(ctx, "signature challenge started", "challenge", c.ID, "partner", r.PartnerID, "iin", iin.Masked())
	return c, nil
}

// SignedText is what the citizen signs for challenge c: what they agree
// to, and the challenge that makes it one-time.
func SignedText(c Challenge) []byte {
	var b strings.Builder
	if c.PartnerID == LoginPartner {
		b.WriteString("Kelisim: log in to my settings\n")
	} else {
		b.WriteString("Kelisim: I consent\n")
		fmt.Fprintf(&b, "Partner: %s\n", c.PartnerID)
		docs := make([]string, len(c.Documents))
		for i, d := range c.Documents {
			docs[i] = string(d)
		}
		fmt.Fprintf(&b, "Documents: %s\nDays: %d\n", strings.Join(docs, ", "), c.Days)
	}
	fmt.Fprintf(&b, "Challenge: %s\nUntil: %s\n", c.ID, c.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z"))
	return []byte(b.String())
}

// VerifySignature takes the citizen's signature of challenge id's text:
// when it verifies and its certificate names the IIN the challenge was
// made for, the challenge is verified (a consent then goes on as after the
// right code) or, for a log-in, used. Returns ErrBadSignature (why, in its
// text), ErrSignatureIIN, ErrCodeExpired, ErrCodeUsed,
// ErrUnknownChallenge, or ErrSelectionChanged when docs and days differ
// from what is signed.
func (s *Service) VerifySignature(ctx context.Context, id, session string, signed []byte, docs []DocumentType, days int) (Challenge, error) {
	if s.sig == nil {
		return Challenge{}, ErrNoSignatureCA
	}
	for {
		c, err := s.Challenge(ctx, id, session)
		if err != nil {
			return Challenge{}, err
		}
		switch {
		case c.Method != MethodSignature:
			return Challenge{}, ErrUnknownChallenge
		case c.Status == ChallengeUsed || c.Status == ChallengeVerified:
			return Challenge{}, ErrCodeUsed
		case c.Status == ChallengeDead:
			return Challenge{}, ErrCodeDead
		case !s.now().Before(c.ExpiresAt):
			return Challenge{}, ErrCodeExpired
		case c.PartnerID != LoginPartner && !sameSelection(c.Documents, c.Days, docs, days):
			return Challenge{}, ErrSelectionChanged
		}
		iin, err := s.sig.Verify(ctx, SignedText(c), signed)
		if err != nil {
			s.log.WarnContext(ctx, "signature refused", "challenge", c.ID, "err", err)
			return Challenge{}, err
		}
		if c.Citizen == "" || iin != c.Citizen {
			s.log.WarnContext(ctx, "signature of another IIN", "challenge", c.ID, "iin", iin.Masked())
			return Challenge{}, ErrSignatureIIN
		}
		c.Status = ChallengeVerified
		if c.PartnerID == LoginPartner {
			c.Status = ChallengeUsed
		}
		if err := s.store.UpdateChallenge(ctx, c); errors.Is(err, ErrStale) {
			continue
		} else if err != nil {
			return Challenge{}, err
		}
		return c, nil
	}
}
