package consent_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kelisim/kelisim/consent"
)

// What a pending authorization request asks, and what an answer may be.
func TestRequestRules(t *testing.T) {
	policy := must(consent.NewRequestPolicy(consent.RequestPolicy{DefaultDays: 90, MaxDays: 365}))
	ask := func(grantDays, purpose string, scopes ...string) consent.Request {
		return policy.Prepare(consent.AuthRequest{ID: "r1", ClientID: "bank", Scopes: scopes, GrantDays: grantDays, Purpose: purpose, LoginHint: string(aidar)})
	}
	r := ask("30", "  a car loan \n", "openid", "documents:id_card", "documents:driver_license", "offline_access")
	if !slices.Equal(r.Documents, []consent.DocumentType{"id_card", "driver_license"}) || !slices.Equal(r.OtherScopes, []string{"openid", "offline_access"}) {
		t.Errorf("scopes split: %v / %v", r.Documents, r.OtherScopes)
	}
	if r.MaxDays != 30 || r.Purpose != "a car loan" || r.LoginHint != aidar || r.NoDocuments() {
		t.Errorf("request: %+v", r)
	}
	for _, tt := range []struct {
		grantDays string
		want      int
	}{{"", 90}, {"0", 90}, {"-3", 90}, {"x", 90}, {"7", 7}, {"365", 365}, {"9999", 365}} {
		if got := ask(tt.grantDays, "").MaxDays; got != tt.want {
			t.Errorf("grant_days %q: max %d, want %d", tt.grantDays, got, tt.want)
		}
	}
	if got := ask("45", "").DayOptions(); !slices.Equal(got, []int{1, 7, 30, 45}) {
		t.Errorf("day options under 45: %v", got)
	}
	long := strings.Repeat("ә", consent.ShownPurposeRunes+20)
	if got := ask("", long).ShownPurpose(); len([]rune(got)) != consent.ShownPurposeRunes {
		t.Errorf("shown purpose: %d runes", len([]rune(got)))
	}
	if !ask("", "", "me").NoDocuments() || ask("", "", "me", "documents:id_card").NoDocuments() || ask("", "", "openid").NoDocuments() {
		t.Error("only a request for me alone is a consent to no document")
	}
	if policy.Prepare(consent.AuthRequest{LoginHint: "123"}).LoginHint != "" {
		t.Error("an invalid login_hint was kept")
	}

	// The citizen may untick and shorten, never add or lengthen.
	for _, tt := range []struct {
		name     string
		docs     []string
		days     string
		wantDocs []consent.DocumentType
		wantDays int
		ok       bool
	}{
		{"all asked", []string{"id_card", "driver_license"}, "30", []consent.DocumentType{"id_card", "driver_license"}, 30, true},
		{"one unticked", []string{"driver_license"}, "7", []consent.DocumentType{"driver_license"}, 7, true},
		{"duplicates dropped", []string{"id_card", "id_card"}, "1", []consent.DocumentType{"id_card"}, 1, true},
		{"none ticked", nil, "30", nil, 30, true},
		{"a document not asked for", []string{"id_card", "diploma"}, "30", nil, 0, false},
		{"longer than asked", []string{"id_card"}, "31", nil, 0, false},
		{"no duration", []string{"id_card"}, "", nil, 0, false},
		{"zero days", []string{"id_card"}, "0", nil, 0, false},
	} {
		docs, days, err := r.Select(tt.docs, tt.days)
		if tt.ok != (err == nil) || !slices.Equal(docs, tt.wantDocs) || days != tt.wantDays {
			t.Errorf("%s: %v %d %v", tt.name, docs, days, err)
		}
		if err != nil && (!errors.Is(err, consent.ErrSelectionInvalid) || consent.KindOf(err) != consent.KindInvalid) {
			t.Errorf("%s: %v is not ErrSelectionInvalid", tt.name, err)
		}
	}
	g := consent.Grant{Documents: []consent.DocumentType{"driver_license"}}
	if got := r.Scopes(g); !slices.Equal(got, []string{"openid", "offline_access", "documents:driver_license"}) {
		t.Errorf("granted scopes: %v", got)
	}
	if h, err := consent.Holders(true, []string{"0", "x"}); err == nil {
		t.Errorf("holders %v from a tampered form", h)
	}
	if h, _ := consent.Holders(false, []string{"1"}); h != nil {
		t.Errorf("holders %v outside the holders step", h)
	}
	if h, _ := consent.Holders(true, nil); h == nil || len(h) != 0 {
		t.Errorf("nobody ticked: %v, want empty and not nil", h)
	}
	if _, err := consent.NewRequestPolicy(consent.RequestPolicy{DefaultDays: 0, MaxDays: 30}); err == nil {
		t.Error("a policy without a default was accepted")
	}
}

// Every domain error has a kind; what a citizen can fix has a message.
func TestErrorKinds(t *testing.T) {
	for _, tt := range []struct {
		err     error
		kind    consent.Kind
		message bool
	}{
		{consent.ErrUnknownChallenge, consent.KindNotFound, true},
		{consent.ErrCodeExpired, consent.KindInvalid, true},
		{&consent.WrongCodeError{AttemptsLeft: 2}, consent.KindInvalid, true},
		{&consent.RateLimitError{}, consent.KindRateLimited, true},
		{&consent.TooSoonError{}, consent.KindRateLimited, true},
		{&consent.InputError{Field: "iin", Err: consent.ErrIINCheck}, consent.KindInvalid, true},
		{consent.ErrUnavailable, consent.KindUnavailable, true},
		{consent.ErrRegistryUnavailable, consent.KindUpstream, true},
		{consent.ErrSourceUnavailable, consent.KindUpstream, true},
		{consent.ErrNotGranted, consent.KindForbidden, false},
		{consent.ErrGrantEnded, consent.KindUnauthorized, false},
		{consent.ErrGrantNotFound, consent.KindNotFound, true},
		{consent.ErrShareMaxed, consent.KindConflict, false},
		{consent.ErrReportStatus, consent.KindInvalid, false},
		{errors.New("a fault"), consent.KindInternal, false},
	} {
		wrapped := errors.Join(errors.New("context"), tt.err)
		if got := consent.KindOf(wrapped); got != tt.kind {
			t.Errorf("%v: kind %d, want %d", tt.err, got, tt.kind)
		}
		if id, _ := consent.MessageOf(tt.err); (id != "") != tt.message {
			t.Errorf("%v: message %q", tt.err, id)
		}
	}
	if _, n := consent.MessageOf(&consent.WrongCodeError{AttemptsLeft: 2}); !slices.Equal(n, []int{2}) {
		t.Errorf("wrong code count %v", n)
	}
}
