package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
)

func notifyTests() []namedTest {
	return []namedTest{
		{"NoticesWithTheirEvents", testNotices},
		{"NotificationPrefs", testNotificationPrefs},
		{"TellTerms", testTellTerms},
		{"KeepTerms", testKeepTerms},
	}
}

// notices lists the pending citizens' notices, by kind.
func notices(t *testing.T, s Store) map[string][]consent.OutboxEntry {
	t.Helper()
	all, err := s.ListDeliveries(context.Background(), consent.OutboxPending, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]consent.OutboxEntry{}
	for _, e := range all {
		if consent.IsNotice(e.Kind) {
			out[e.Kind] = append(out[e.Kind], e)
		}
	}
	return out
}

// Every history event that tells the citizen something writes its notice
// with it; uses of one grant in one hour, written at once from many
// requests, are one notice.
func testNotices(t *testing.T, s Store) {
	ctx := context.Background()
	c := challenge("c1")
	c.Lang = "ru"
	check(t, s.CreateChallenge(ctx, c))
	g := consent.Grant{ID: "g1", Citizen: c.Citizen, PartnerID: "p1", Documents: c.Documents, CreatedAt: t0,
		ExpiresAt: t0.Add(48 * time.Hour), TermsVersion: "v1", ChallengeID: "c1", Status: consent.GrantActive}
	c.Status = consent.ChallengeUsed
	check(t, s.ApproveChallenge(ctx, c, g, nil))
	got := notices(t, s)[consent.NoticeGranted]
	if len(got) != 1 || got[0].Citizen != c.Citizen || got[0].Lang != "ru" || got[0].GrantID != "g1" || !got[0].NextAttemptAt.Equal(t0) {
		t.Fatalf("the consent's notice: %+v", got)
	}

	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			at := t0.Add(time.Duration(i) * time.Minute) // 10:00 to 10:39, then 10:40 …
			if i >= 30 {
				at = t0.Add(time.Hour + time.Duration(i)*time.Second) // … in the next hour
			}
			if err := s.RecordAccess(ctx, consent.AccessEvent{At: at, Citizen: c.Citizen, Holder: c.Citizen, PartnerID: "p1",
				GrantID: "g1", Document: "id_card", Kind: consent.AccessFetch}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	used := notices(t, s)[consent.NoticeUsed]
	if len(used) != 2 {
		t.Fatalf("uses in two hours made %d notices: %+v", len(used), used)
	}
	for _, u := range used {
		hour := u.CreatedAt.Truncate(time.Hour)
		if !u.CreatedAt.Equal(hour) || !u.NextAttemptAt.Equal(hour.Add(time.Hour+consent.NoticeSettle)) || u.Citizen != c.Citizen {
			t.Errorf("a use notice: %+v", u)
		}
	}

	ok, err := s.RevokeGrant(ctx, "g1", "citizen", "why", t0.Add(2*time.Hour), nil)
	if !ok || err != nil {
		t.Fatalf("revoke: %v %v", ok, err)
	}
	if ended := notices(t, s)[consent.NoticeEnded]; len(ended) != 1 {
		t.Errorf("the revocation's notice: %+v", ended)
	}

	if _, err := s.Erase(ctx, c.Citizen, "erased:1", t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if left := notices(t, s); len(left) != 0 {
		t.Errorf("notices kept after erasure: %+v", left)
	}
}

func testNotificationPrefs(t *testing.T, s Store) {
	ctx := context.Background()
	const iin consent.IIN = "850315300128"
	p, err := s.NotificationPrefs(ctx, iin)
	if err != nil || len(p.Channels) != 1 || p.Channels[0] != consent.ChannelSMS || p.Lang != "" {
		t.Fatalf("before a choice: %+v %v", p, err)
	}
	check(t, s.SetNotificationPrefs(ctx, iin, consent.NotificationPrefs{Channels: []string{"app", "sms"}, Lang: "en"}, t0))
	if p, err := s.NotificationPrefs(ctx, iin); err != nil || len(p.Channels) != 2 || p.Channels[0] != "app" || p.Lang != "en" {
		t.Errorf("after a choice: %+v %v", p, err)
	}
	check(t, s.SetNotificationPrefs(ctx, iin, consent.NotificationPrefs{Lang: "kk"}, t0))
	if p, err := s.NotificationPrefs(ctx, iin); err != nil || p.Channels == nil || len(p.Channels) != 0 || p.Lang != "kk" {
		t.Errorf("no channel chosen reads as %+v %v: want none, not the default", p, err)
	}
	// A notice's first language does not replace one set.
	if p, err := s.NoticePrefs(ctx, iin, "ru", t0); err != nil || p.Lang != "kk" || len(p.Channels) != 0 {
		t.Errorf("a notice's language over a set one: %+v %v", p, err)
	}
	if p, _ := s.NotificationPrefs(ctx, iin); p.Lang != "kk" {
		t.Errorf("a notice's language over a set one, stored: %+v", p)
	}
	// The language alone: the channels stay as chosen.
	check(t, s.SetNotificationLang(ctx, iin, "ru", t0))
	if p, _ := s.NotificationPrefs(ctx, iin); p.Lang != "ru" || len(p.Channels) != 0 {
		t.Errorf("the language changed the channels: %+v", p)
	}
	const other, third consent.IIN = "900101400559", "020202500123"
	check(t, s.SetNotificationLang(ctx, other, "en", t0))
	if p, _ := s.NotificationPrefs(ctx, other); p.Lang != "en" || len(p.Channels) != 1 || p.Channels[0] != consent.ChannelSMS {
		t.Errorf("a language keeps the default channels: %+v", p)
	}
	// A notice for a citizen who never chose: its language becomes theirs,
	// with the default channels; one without a language sets none.
	if p, err := s.NoticePrefs(ctx, third, "", t0); err != nil || p.Lang != "" || len(p.Channels) != 1 {
		t.Errorf("a notice without a language: %+v %v", p, err)
	}
	if p, err := s.NoticePrefs(ctx, third, "kk", t0); err != nil || p.Lang != "kk" || len(p.Channels) != 1 || p.Channels[0] != consent.ChannelSMS {
		t.Errorf("a notice's first language: %+v %v", p, err)
	}
	if p, err := s.NoticePrefs(ctx, third, "en", t0); err != nil || p.Lang != "kk" || len(p.Channels) != 1 {
		t.Errorf("a notice's language after the first: %+v %v", p, err)
	}
	if p, _ := s.NotificationPrefs(ctx, third); p.Lang != "kk" || len(p.Channels) != 1 {
		t.Errorf("a notice's first language, stored: %+v", p)
	}
	// With the notice's grant: read with the preferences; a grant that is
	// gone sets the first language all the same.
	c := challenge("notice-c")
	check(t, s.CreateChallenge(ctx, c))
	c.Status = consent.ChallengeUsed
	g := consent.Grant{ID: "notice-g", Citizen: c.Citizen, PartnerID: "p1", Documents: c.Documents, CreatedAt: t0,
		ExpiresAt: t0.Add(30 * 24 * time.Hour), TermsVersion: "v1", ChallengeID: c.ID, Status: consent.GrantActive}
	check(t, s.ApproveChallenge(ctx, c, g, nil))
	const fourth, fifth consent.IIN = "030303600123", "040404700123"
	if p, got, err := s.NoticePrefsWithGrant(ctx, fourth, "ru", g.ID, t0); err != nil || p.Lang != "ru" || len(p.Channels) != 1 ||
		got.ID != g.ID || got.Citizen != g.Citizen || len(got.Documents) != 2 || !got.ExpiresAt.Equal(g.ExpiresAt) {
		t.Errorf("a notice's first language with its grant: %+v %+v %v", p, got, err)
	}
	if p, _, err := s.NoticePrefsWithGrant(ctx, fourth, "en", g.ID, t0); err != nil || p.Lang != "ru" {
		t.Errorf("a notice's language after the first, with its grant: %+v %v", p, err)
	}
	if p, _, err := s.NoticePrefsWithGrant(ctx, iin, "kk", g.ID, t0); err != nil || p.Lang != "ru" || len(p.Channels) != 0 {
		t.Errorf("no channel chosen, with a grant: %+v %v", p, err)
	}
	if p, _, err := s.NoticePrefsWithGrant(ctx, fifth, "", g.ID, t0); err != nil || p.Lang != "" || len(p.Channels) != 1 {
		t.Errorf("a notice without a language, with its grant, for a citizen who never chose: %+v %v", p, err)
	}
	if _, _, err := s.NoticePrefsWithGrant(ctx, fifth, "kk", "no-such-grant", t0); !errors.Is(err, consent.ErrGrantNotFound) {
		t.Errorf("a grant that is gone: %v", err)
	}
	if p, _ := s.NotificationPrefs(ctx, fifth); p.Lang != "kk" {
		t.Errorf("a grant that is gone, the first language stored: %+v", p)
	}
	// Several reads at once read as they do one by one, in order: a
	// citizen's first language set by the first of them, a use with no
	// grant, a citizen who never chose, a grant that is gone.
	const sixth, seventh consent.IIN = "050505800123", "060606900123"
	got := s.NoticeReads(ctx, []consent.NoticeRead{
		{Citizen: sixth, Lang: "en", GrantID: g.ID},
		{Citizen: sixth, Lang: "kk", GrantID: g.ID},
		{Citizen: fourth, Lang: "kk"},
		{Citizen: seventh},
		{Citizen: iin, Lang: "en", GrantID: "no-such-grant"},
		{Citizen: third, Lang: "ru", GrantID: g.ID},
	}, t0)
	if len(got) != 6 {
		t.Fatalf("%d results for 6 reads", len(got))
	}
	for i, want := range []struct {
		lang     string
		channels int
		grant    string
		err      error
	}{{"en", 1, g.ID, nil}, {"en", 1, g.ID, nil}, {"ru", 1, "", nil}, {"", 1, "", nil}, {"", 0, "", consent.ErrGrantNotFound}, {"kk", 1, g.ID, nil}} {
		r := got[i]
		if !errors.Is(r.Err, want.err) || (want.err == nil && (r.Prefs.Lang != want.lang || len(r.Prefs.Channels) != want.channels || r.Grant.ID != want.grant)) {
			t.Errorf("read %d: %+v %+v %v, want %s, %d channels, grant %q, %v", i, r.Prefs, r.Grant.ID, r.Err, want.lang, want.channels, want.grant, want.err)
		}
	}
	if p, _ := s.NotificationPrefs(ctx, sixth); p.Lang != "en" {
		t.Errorf("the first language of reads at once, stored: %+v", p)
	}
	if _, err := s.Erase(ctx, iin, "erased:2", t0); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.NotificationPrefs(ctx, iin); len(p.Channels) != 1 || p.Lang != "" {
		t.Errorf("after erasure: %+v", p)
	}
	// Two notices of a new citizen at once, in two languages: one of them
	// sets it, and both read what it set.
	for i := range 40 {
		citizen := consent.IIN(fmt.Sprintf("7701014%05d", i))
		var wg sync.WaitGroup
		got := make([]consent.NotificationPrefs, 2)
		for j, lang := range []string{"kk", "ru"} {
			wg.Go(func() {
				p, err := s.NoticePrefs(ctx, citizen, lang, t0)
				if err != nil {
					t.Errorf("%s at once: %v", citizen, err)
				}
				got[j] = p
			})
		}
		wg.Wait()
		stored, err := s.NotificationPrefs(ctx, citizen)
		check(t, err)
		if stored.Lang == "" || got[0].Lang != stored.Lang || got[1].Lang != stored.Lang || len(got[0].Channels) != 1 || len(got[1].Channels) != 1 {
			t.Fatalf("%s at once: read %+v, stored %+v", citizen, got, stored)
		}
	}
}

// The upkeep tells each citizen with grants under older terms once per
// version, however the grants fall into rounds and however many replicas
// run it at once.
func testTellTerms(t *testing.T, s Store) {
	ctx := context.Background()
	grant := func(id string, citizen consent.IIN, terms string) {
		t.Helper()
		c := challenge("c-" + id)
		c.Citizen = citizen
		check(t, s.CreateChallenge(ctx, c))
		c.Status = consent.ChallengeUsed
		check(t, s.ApproveChallenge(ctx, c, consent.Grant{ID: id, Citizen: citizen, PartnerID: "p1", Documents: c.Documents,
			CreatedAt: t0, ExpiresAt: t0.Add(48 * time.Hour), TermsVersion: terms, ChallengeID: c.ID, Status: consent.GrantActive}, nil))
	}
	check(t, s.KeepTerms(ctx, consent.Terms{Version: "v1", Text: []byte("one")}, t0))
	if n, err := s.TellTerms(ctx, "v2", t0, 100); err != nil || n != 0 {
		t.Errorf("terms not yet published told of: %d %v", n, err)
	}
	check(t, s.KeepTerms(ctx, consent.Terms{Version: "v2", Text: []byte("two")}, t0.Add(time.Minute)))
	grant("g1", "850315300128", "v1")
	grant("g2", "850315300128", "v1")
	grant("g3", "850315300128", "v2")
	grant("g4", "900101400559", "v1")
	grant("g5", "880102300125", "v2")
	var wg sync.WaitGroup
	var mu sync.Mutex
	told := 0
	for range 4 {
		wg.Go(func() {
			for {
				n, err := s.TellTerms(ctx, "v2", t0.Add(time.Hour), 1)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				told += n
				mu.Unlock()
				if n == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	for {
		n, err := s.TellTerms(ctx, "v2", t0.Add(time.Hour), 1)
		check(t, err)
		if n == 0 {
			break
		}
		told += n
	}
	got := notices(t, s)[consent.NoticeTerms]
	if told != 2 || len(got) != 2 {
		t.Fatalf("told %d, notices %+v: want one per citizen with grants under v1", told, got)
	}
	for _, n := range got {
		if n.Citizen != "850315300128" && n.Citizen != "900101400559" {
			t.Errorf("told a citizen with no grant under older terms: %+v", n)
		}
	}
	if n, err := s.TellTerms(ctx, "v2", t0.Add(2*time.Hour), 100); err != nil || n != 0 {
		t.Errorf("told again: %d %v", n, err)
	}
	if n, err := s.TellTerms(ctx, "v1", t0.Add(2*time.Hour), 100); err != nil || n != 0 {
		t.Errorf("a replica still on older terms told %d: %v", n, err)
	}
	check(t, s.KeepTerms(ctx, consent.Terms{Version: "v3", Text: []byte("three")}, t0.Add(2*time.Minute)))
	if n, err := s.TellTerms(ctx, "v3", t0.Add(2*time.Hour), 100); err != nil || n != 3 {
		t.Errorf("a newer version tells everyone with older grants again: %d %v", n, err)
	}
}

// A version of the terms is kept byte for byte, once: the same text again
// is harmless, another text under the same version is refused.
func testKeepTerms(t *testing.T, s Store) {
	ctx := context.Background()
	v1 := consent.Terms{Version: "v1", Text: []byte("The terms of v1.\nLine two.\n")}
	check(t, s.KeepTerms(ctx, v1, t0))
	check(t, s.KeepTerms(ctx, v1, t0.Add(time.Hour)))
	if err := s.KeepTerms(ctx, consent.Terms{Version: "v1", Text: []byte("Quietly other terms.")}, t0); !errors.Is(err, consent.ErrTermsRewritten) {
		t.Errorf("another text under v1: %v", err)
	}
	got, err := s.TermsText(ctx, "v1")
	if err != nil || string(got.Text) != string(v1.Text) || got.Digest() != v1.Digest() {
		t.Errorf("kept: %q %v", got.Text, err)
	}
	if _, err := s.TermsText(ctx, "v9"); !errors.Is(err, consent.ErrTermsUnknown) {
		t.Errorf("a version never kept: %v", err)
	}
}
