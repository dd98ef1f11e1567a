package consent

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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
	// AuthorizationDetails is the partner's authorization_details
	// parameter, as sent (checked when the request was made).
	AuthorizationDetails string
	// GrantID and GrantAction are the partner's grant_id and
	// grant_management_action, as sent (checked when the request was
	// made).
	GrantID, GrantAction string
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
	// Details are the partner's authorization_details, when it described
	// the request so (RFC 9396); their documents are among Documents.
	Details []DocumentDetail
	// Action says how the request changes what the partner holds: a new
	// grant, or a merge into or replacement of grant Change.
	Action GrantAction
	Change string
	// Changes is grant Change as it stands, once Changing has read it.
	// On a merge, its documents stay shared (Kept) and are not offered
	// again.
	Changes *Grant
	Kept    []DocumentType
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
	for _, s := range a.Scopes {
		if d, ok := strings.CutPrefix(s, ScopePrefix); ok {
			r.Documents = append(r.Documents, DocumentType(d))
		} else {
			r.OtherScopes = append(r.OtherScopes, s)
		}
	}
	// Rich authorization requests describe the same grant as scopes do:
	// their documents join the scopes', their duration and purpose, when
	// given, are the partner's ask.
	r.Details, _ = ParseAuthorizationDetails(a.AuthorizationDetails)
	days, purpose := 0, ""
	for _, d := range r.Details {
		for _, t := range d.Documents {
			if !slices.Contains(r.Documents, t) {
				r.Documents = append(r.Documents, t)
			}
		}
		days = max(days, d.DurationDays)
		if purpose == "" {
			purpose = strings.TrimSpace(d.Purpose)
		}
	}
	if days > 0 {
		r.MaxDays = days
	}
	if purpose != "" {
		r.Purpose = purpose
	}
	r.MaxDays = min(r.MaxDays, p.MaxDays)
	if iin, err := ParseIIN(a.LoginHint); err == nil {
		r.LoginHint = iin
	}
	if action, ok := ParseGrantAction(a.GrantAction); ok && a.GrantID != "" {
		r.Action, r.Change = action, a.GrantID
	}
	return r
}

// Changing tells the request what grant Change is now. A merge keeps its
// documents: they are shown as shared already, and only the others are
// offered.
func (r *Request) Changing(g Grant) {
	r.Changes = &g
	if r.Action != GrantMerge {
		return
	}
	var offered []DocumentType
	for _, d := range r.Documents {
		if !slices.Contains(g.Documents, d) {
			offered = append(offered, d)
		}
	}
	r.Documents, r.Kept = offered, slices.Clone(g.Documents)
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
// new document: a first-party app asking for the citizen's settings only,
// or a merge, which keeps the documents shared already.
func (r Request) NoDocuments() bool {
	return (len(r.Documents) == 0 && slices.Contains(r.OtherScopes, ScopeMe)) || (r.Action == GrantMerge && len(r.Kept) > 0)
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

// DetailType is the type of the authorization_details element a partner
// asks for documents with (RFC 9396).
const DetailType = "kelisim_documents"

// HolderSelf names the consenting citizen as the holder of documents.
const HolderSelf = "self"

// DocumentDetail is one authorization_details element of type
// kelisim_documents: which documents, whose (the citizen's own, or a
// represented minor's by IIN), why, and for how long.
type DocumentDetail struct {
	Type         string         `json:"type"`
	Documents    []DocumentType `json:"documents"`
	Holder       string         `json:"holder,omitempty"` // HolderSelf (the default) or a minor's IIN
	Purpose      string         `json:"purpose,omitempty"`
	DurationDays int            `json:"duration_days,omitempty"`
}

// ErrAuthorizationDetails: authorization_details that are not a list of
// valid kelisim_documents elements.
var ErrAuthorizationDetails = newError(KindInvalid, "", "invalid authorization_details")

// ParseAuthorizationDetails reads the authorization_details parameter;
// empty is none. Each element must be of DetailType with known documents,
// each once, a holder that is "self" or a valid IIN, a purpose of at most
// ShownPurposeRunes and a duration of 0 to 3650 days.
func ParseAuthorizationDetails(raw string) ([]DocumentDetail, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	var details []DocumentDetail
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&details); err != nil || dec.More() {
		return nil, fmt.Errorf("%w: not a JSON array of %s objects", ErrAuthorizationDetails, DetailType)
	}
	if len(details) == 0 || len(details) > 8 {
		return nil, fmt.Errorf("%w: 1 to 8 elements", ErrAuthorizationDetails)
	}
	for i, d := range details {
		switch {
		case d.Type != DetailType:
			return nil, fmt.Errorf("%w: element %d: type must be %s", ErrAuthorizationDetails, i, DetailType)
		case len(d.Documents) == 0:
			return nil, fmt.Errorf("%w: element %d: no documents", ErrAuthorizationDetails, i)
		case d.Holder != "" && d.Holder != HolderSelf && !validIIN(d.Holder):
			return nil, fmt.Errorf("%w: element %d: holder is %q or a valid IIN", ErrAuthorizationDetails, i, HolderSelf)
		case utf8.RuneCountInString(d.Purpose) > ShownPurposeRunes:
			return nil, fmt.Errorf("%w: element %d: purpose is longer than %d characters", ErrAuthorizationDetails, i, ShownPurposeRunes)
		case d.DurationDays < 0 || d.DurationDays > 3650:
			return nil, fmt.Errorf("%w: element %d: duration_days is 0 to 3650", ErrAuthorizationDetails, i)
		}
		for j, t := range d.Documents {
			// Whether the partner may ask for it (so whether the service
			// knows it) is checked against its allowance.
			if !t.Valid() || slices.Contains(d.Documents[:j], t) {
				return nil, fmt.Errorf("%w: element %d: document %q is malformed or listed twice", ErrAuthorizationDetails, i, t)
			}
		}
		if details[i].Holder == "" {
			details[i].Holder = HolderSelf
		}
	}
	return details, nil
}

func validIIN(s string) bool {
	iin, err := ParseIIN(s)
	return err == nil && string(iin) == s
}

// AskedHolders are the holders the partner's details name ("self" or a
// minor's IIN); none when it asked by scopes, which leaves the choice to
// the citizen.
func (r Request) AskedHolders() []string {
	var out []string
	for _, d := range r.Details {
		if !slices.Contains(out, d.Holder) {
			out = append(out, d.Holder)
		}
	}
	return out
}

// Granted is what grant g gives the partner, in the form it asked in:
// one kelisim_documents element per holder granted, with the documents
// asked for that holder that the citizen kept (and, on a merge, those the
// grant kept), the purpose and the days. None when the partner asked by
// scopes only.
func (r Request) Granted(g Grant) []DocumentDetail {
	if len(r.Details) == 0 {
		return nil
	}
	holders := g.Holders
	if len(holders) == 0 {
		holders = []IIN{g.Citizen}
	}
	days := int(g.ExpiresAt.Sub(g.CreatedAt).Round(time.Hour).Hours() / 24)
	var out []DocumentDetail
	for _, h := range holders {
		label := HolderSelf
		if h != g.Citizen {
			label = string(h)
		}
		var docs []DocumentType
		for _, t := range r.Kept { // a merge's: shared already, for every holder
			if slices.Contains(g.Documents, t) {
				docs = append(docs, t)
			}
		}
		for _, d := range r.Details {
			for _, t := range d.Documents {
				if d.Holder == label && slices.Contains(g.Documents, t) && !slices.Contains(docs, t) {
					docs = append(docs, t)
				}
			}
		}
		if len(docs) > 0 {
			out = append(out, DocumentDetail{Type: DetailType, Documents: docs, Holder: label, Purpose: g.Purpose, DurationDays: days})
		}
	}
	return out
}
