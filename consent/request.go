package consent

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The consent-request part: what a citizen is asked about one pending
// authorization request, and what their answer may be. The consent pages
// parse a form, call this and the Service, and render; the rules live here.

// ScopeMe lets a first-party app (the operator's own mobile app) act on
// the citizen's settings; asked alone, it is a consent to no document.
const ScopeMe = "me"

// AuthRequest is a pending authorization request as the OAuth server
// keeps it, in the words consent needs.
type AuthRequest struct {
	ID        string
	ClientID  string
	Scopes    []string
	GrantDays string // the partner's grant_days parameter, as sent
	Purpose   string // the partner's purpose parameter, as sent
	LoginHint string // as sent; used when it is a valid IIN
	ExpiresAt time.Time
}

// Request is what the citizen is asked: which documents, for how long at
// most, why; and what any answer must stay within.
type Request struct {
	ID        string
	PartnerID string
	Documents []DocumentType // asked for, in the partner's order
	// OtherScopes (openid, offline_access, me) come with any consent.
	OtherScopes []string
	// MaxDays is the partner's ask (or the default), capped by the operator.
	MaxDays int
	// Purpose is the partner's purpose without surrounding space; "" when
	// it gave none.
	Purpose   string
	LoginHint IIN // "" unless the hint was a valid IIN
	ExpiresAt time.Time
}

// ShownPurposeRunes bounds the purpose a page shows.
const ShownPurposeRunes = 300

// RequestPolicy is the operator's rule for grant durations.
type RequestPolicy struct {
	DefaultDays int // when the partner asks none
	MaxDays     int // the cap on any grant
}

// NewRequestPolicy checks p.
func NewRequestPolicy(p RequestPolicy) (RequestPolicy, error) {
	if p.DefaultDays < 1 || p.MaxDays < 1 {
		return RequestPolicy{}, fmt.Errorf("consent.NewRequestPolicy: DefaultDays and MaxDays must be positive: %+v", p)
	}
	return p, nil
}

// Prepare turns a pending authorization request into what the citizen is
// asked.
func (p RequestPolicy) Prepare(a AuthRequest) Request {
	r := Request{ID: a.ID, PartnerID: a.ClientID, MaxDays: p.DefaultDays, Purpose: strings.TrimSpace(a.Purpose), ExpiresAt: a.ExpiresAt}
	if n, err := strconv.Atoi(a.GrantDays); err == nil && n > 0 {
		r.MaxDays = n
	}
	r.MaxDays = min(r.MaxDays, p.MaxDays)
	for _, s := range a.Scopes {
		if d, ok := strings.CutPrefix(s, ScopePrefix); ok {
			r.Documents = append(r.Documents, DocumentType(d))
		} else {
			r.OtherScopes = append(r.OtherScopes, s)
		}
	}
	if iin, err := ParseIIN(a.LoginHint); err == nil {
		r.LoginHint = iin
	}
	return r
}

// ShownPurpose is the purpose as a page shows it: at most
// ShownPurposeRunes characters.
func (r Request) ShownPurpose() string {
	if p := []rune(r.Purpose); len(p) > ShownPurposeRunes {
		return string(p[:ShownPurposeRunes])
	}
	return r.Purpose
}

// NoDocuments reports whether the request may be consented to without a
// document: a first-party app asking for the citizen's settings only.
func (r Request) NoDocuments() bool {
	return len(r.Documents) == 0 && slices.Contains(r.OtherScopes, ScopeMe)
}

// DayOptions are the durations the citizen may pick: the usual steps
// below MaxDays, then MaxDays.
func (r Request) DayOptions() []int {
	var out []int
	for _, n := range []int{1, 7, 30, 90, 180, 365} {
		if n < r.MaxDays {
			out = append(out, n)
		}
	}
	return append(out, r.MaxDays)
}

// ErrSelectionInvalid: an answer names a document the partner did not ask
// for, or a duration outside 1…MaxDays. No page offers either: the form
// was tampered with or is stale.
var ErrSelectionInvalid = newError(KindInvalid, "err_forbidden", "the answer is outside what was asked")

// Select checks the documents and duration an answer posted: the citizen
// may untick documents and shorten the duration, never add or lengthen.
// Duplicates are dropped.
func (r Request) Select(docs []string, days string) ([]DocumentType, int, error) {
	var out []DocumentType
	for _, d := range docs {
		t := DocumentType(d)
		if !slices.Contains(r.Documents, t) {
			return nil, 0, ErrSelectionInvalid
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	n, err := strconv.Atoi(days)
	if err != nil || n < 1 || n > r.MaxDays {
		return nil, 0, ErrSelectionInvalid
	}
	return out, n, nil
}

// Holders reads the positions of whose documents to share from an
// answer; nil when the answer is not the holders step.
func Holders(step bool, posted []string) ([]int, error) {
	if !step {
		return nil, nil
	}
	out := []int{}
	for _, h := range posted {
		i, err := strconv.Atoi(h)
		if err != nil {
			return nil, ErrSelectionInvalid
		}
		out = append(out, i)
	}
	return out, nil
}

// Scopes are what the OAuth server grants for grant g: the request's
// other scopes and one per document the citizen kept.
func (r Request) Scopes(g Grant) []string {
	scopes := slices.Clone(r.OtherScopes)
	for _, d := range g.Documents {
		scopes = append(scopes, d.Scope())
	}
	return scopes
}
