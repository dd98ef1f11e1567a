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
	// TermsDigest is the digest of the terms' text (Terms.Digest) the
	// citizen consented under; empty for grants from before it was kept.
	TermsDigest string
	ChallengeID string
	Status      GrantStatus
	// Who changed the status, when and why; empty while active.
	StatusChangedAt time.Time
	StatusBy        string
	StatusReason    string
	// RevocationAckedAt is when the partner acknowledged the revocation
	// (its webhook answered 2xx to the Security Event Token).
	RevocationAckedAt time.Time
	// Deletion is the partner's confirmation that it deleted what it
	// received, once the grant ended; nil until it confirms.
	Deletion *Deletion
	// Method is how the citizen proved who they were for its latest
	// consent: MethodSMS or MethodSignature.
	Method Method
}

// Method is how a citizen proved who they are: the collection method a
// consent receipt names.
type Method string

// Methods.
const (
	MethodSMS       Method = "sms-otp"
	MethodSignature Method = "digital-signature"
)

// OrDefault is m, or MethodSMS for what was recorded before methods were.
func (m Method) OrDefault() Method {
	if m == "" {
		return MethodSMS
	}
	return m
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

// GrantAction is how a consent changes what its partner holds for the
// citizen (FAPI Grant Management for OAuth 2.0).
type GrantAction string

const (
	// GrantCreate makes a new grant. It replaces the citizen's active
	// grants for the partner that cover any of its holders (or were given
	// under other terms): a partner holds one grant per person, not a
	// stack of them.
	GrantCreate GrantAction = ""
	// GrantMerge adds to the grant the partner names: the documents and
	// holders the citizen consents to now join those it covers, and it
	// lasts until the later of its end and the new duration's.
	GrantMerge GrantAction = "merge"
	// GrantReplace rewrites the grant the partner names with what the
	// citizen consents to now; tokens issued under it as it was stop
	// working.
	GrantReplace GrantAction = "replace"
)

// ParseGrantAction reads grant_management_action; false for anything but
// merge and replace (query and revoke are the grant endpoint's).
func ParseGrantAction(s string) (GrantAction, bool) {
	switch a := GrantAction(s); a {
	case GrantMerge, GrantReplace:
		return a, true
	}
	return "", false
}

// ErrGrantGone: the grant a request merges into or replaces is no longer
// active, so the request cannot change it.
var ErrGrantGone = newError(KindConflict, "err_grant_changed_gone", "the grant this request changes is no longer active")

// ErrOtherCitizen: a request changes a grant another citizen gave.
var ErrOtherCitizen = newError(KindInvalid, "err_grant_other_citizen", "the grant this request changes is another citizen's")

// Changed is grant g as a consent approved now changes it: merged with,
// or replaced by, what the citizen chose (docs, holders, the grant's new
// end, purpose and terms, under challenge). allowed are the documents the
// partner may be granted now; a merge keeps only those of g's.
func (g Grant) Changed(action GrantAction, docs []DocumentType, holders []IIN, ends time.Time, purpose string, terms Terms, challenge string, allowed []DocumentType) Grant {
	out := g
	out.Documents, out.Holders = slices.Clone(docs), slices.Clone(holders)
	out.ExpiresAt, out.Purpose, out.ChallengeID = ends, purpose, challenge
	out.TermsVersion, out.TermsDigest = terms.Version, terms.Digest()
	if action != GrantMerge {
		return out
	}
	out.Documents = nil
	for _, d := range append(slices.Clone(g.Documents), docs...) {
		if slices.Contains(allowed, d) && !slices.Contains(out.Documents, d) {
			out.Documents = append(out.Documents, d)
		}
	}
	kept := g.Holders
	if len(kept) == 0 {
		kept = []IIN{g.Citizen}
	}
	out.Holders = slices.Clone(kept)
	for _, h := range holders {
		if !slices.Contains(out.Holders, h) {
			out.Holders = append(out.Holders, h)
		}
	}
	if g.ExpiresAt.After(ends) {
		out.ExpiresAt = g.ExpiresAt
	}
	if purpose == "" {
		out.Purpose = g.Purpose
	}
	return out
}
