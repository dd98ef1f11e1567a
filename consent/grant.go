package consent

import (
	"slices"
	"time"
)

// GrantStatus is where a grant stands.
//
//	active ──revoked by the citizen or the operator──▶ revoked
//	active ──ExpiresAt passes──▶ expired
//
// revoked and expired are final. A grant past its ExpiresAt is expired
// whether or not a job has marked it yet (see ActiveAt).
type GrantStatus string

const (
	GrantActive  GrantStatus = "active"
	GrantRevoked GrantStatus = "revoked"
	GrantExpired GrantStatus = "expired"
)

// Grant is the record of one consent: which citizen let which partner see
// which documents, why, from when until when, under which terms, approved
// by which code, and where it stands.
type Grant struct {
	ID        string
	Citizen   IIN
	PartnerID string
	// Holders are whose documents the grant covers, each named to the
	// citizen when consenting: the citizen, minors they represent, or both.
	Holders      []IIN
	Documents    []DocumentType
	Purpose      string
	CreatedAt    time.Time
	ExpiresAt    time.Time
	TermsVersion string
	ChallengeID  string
	Status       GrantStatus
	// Who changed the status, when and why; empty while active.
	StatusChangedAt time.Time
	StatusBy        string
	StatusReason    string
	// RevocationAckedAt is when the partner acknowledged the revocation
	// (its webhook answered 2xx to the Security Event Token).
	RevocationAckedAt time.Time
}

// ErrGrantNotFound: no grant with that id.
var ErrGrantNotFound = newError(KindNotFound, "err_grant_gone", "the citizen has no such grant")

// ErrGrantEnded: the grant behind a token is no longer active, so the
// token admits nothing.
var ErrGrantEnded = newError(KindUnauthorized, "", "the grant behind this token is no longer active")

// Covers reports whether the grant covers holder's documents. A grant
// from before holders were recorded covers its citizen only.
func (g Grant) Covers(holder IIN) bool {
	if len(g.Holders) == 0 {
		return holder == g.Citizen
	}
	return slices.Contains(g.Holders, holder)
}

// ActiveAt reports whether the grant lets its partner see documents at t.
func (g Grant) ActiveAt(t time.Time) bool {
	return g.Status == GrantActive && t.Before(g.ExpiresAt)
}
