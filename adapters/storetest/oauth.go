package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// The OAuth records' contract: token and code records, their families,
// transactions, signing keys, and the partner condition a record is
// decided under.

func record(kind oauth.Kind, sig, req, client string) oauth.Record {
	return oauth.Record{Kind: kind, Signature: sig, RequestID: req, ClientID: client, GrantID: "g1",
		Active: true, ExpiresAt: t0.Add(time.Hour), Request: []byte(`{"id":"` + req + `"}`)}
}

func testRecordLifecycle(t *testing.T, s Store) {
	ctx := context.Background()
	r := record(oauth.KindAccess, "sig1", "req1", "p1")
	if err := s.CreateRecord(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRecord(ctx, r); !errors.Is(err, oauth.ErrConflict) {
		t.Errorf("duplicate: got %v, want ErrConflict", err)
	}
	// The same signature under another kind is another record.
	if err := s.CreateRecord(ctx, record(oauth.KindRefresh, "sig1", "req1", "p1")); err != nil {
		t.Errorf("same signature, other kind: %v", err)
	}
	got, err := s.GetRecord(ctx, oauth.KindAccess, "sig1")
	if err != nil {
		t.Fatal(err)
	}
	if got.RequestID != "req1" || got.ClientID != "p1" || got.GrantID != "g1" || !got.Active ||
		!got.ExpiresAt.Equal(r.ExpiresAt) || string(got.Request) != string(r.Request) {
		t.Errorf("got %+v, want %+v", got, r)
	}
	if err := s.DeleteRecord(ctx, oauth.KindAccess, "sig1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRecord(ctx, oauth.KindAccess, "sig1"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("after delete: got %v, want ErrNotFound", err)
	}
	if err := s.DeleteRecord(ctx, oauth.KindAccess, "sig1"); err != nil {
		t.Errorf("deleting a missing record: %v", err)
	}
}

// A code's records are written in one go inside the transaction that
// issues the code, and read back at once by their signature; a conflict
// fails the write, and the rolled-back transaction leaves none of them.
// The request they answer is used up with them: deleted, when its kind
// is among those dropped, and of concurrent answers exactly one writes.
func testCodeRecords(t *testing.T, s Store) {
	ctx := context.Background()
	answered := []oauth.Kind{oauth.KindPending}
	// Written as an approval writes them: with the request they answer.
	for _, id := range []string{"pending1", "pending2", "pending3"} {
		check(t, s.CreateRecord(ctx, record(oauth.KindPending, id, "req-"+id, "p1")))
	}
	code := []oauth.Record{record(oauth.KindCode, "c1", "req1", "p1"), record(oauth.KindPKCE, "c1", "req1", "p1"),
		record(oauth.KindOIDC, "c1", "req1", "p1")}
	check(t, s.UseRecord(ctx, oauth.KindPending, "pending1", answered, code))
	if p, err := s.GetRecord(ctx, oauth.KindPending, "pending1"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("the answered request: %+v %v, want it gone", p, err)
	}
	if err := s.UseRecord(ctx, oauth.KindPending, "pending1", answered, nil); !errors.Is(err, oauth.ErrNotActive) {
		t.Errorf("the answered request answered again: %v", err)
	}
	got, err := s.GetRecords(ctx, "c1", oauth.KindCode, oauth.KindPKCE, oauth.KindOIDC, oauth.KindAccess)
	if err != nil || len(got) != 3 || got[oauth.KindPKCE].RequestID != "req1" || !got[oauth.KindOIDC].Active ||
		string(got[oauth.KindCode].Request) != string(code[0].Request) {
		t.Errorf("the code's records: %+v %v", got, err)
	}
	if got, err := s.GetRecords(ctx, "c2", oauth.KindCode); err != nil || len(got) != 0 {
		t.Errorf("an unknown code's records: %+v %v", got, err)
	}
	err = s.UseRecord(ctx, oauth.KindPending, "pending2", answered,
		[]oauth.Record{record(oauth.KindCode, "c2", "req2", "p1"), record(oauth.KindPKCE, "c1", "req2", "p1")})
	if !errors.Is(err, oauth.ErrConflict) {
		t.Errorf("a code's records over another's: %v", err)
	}
	if got, err := s.GetRecords(ctx, "c2", oauth.KindCode); err != nil || len(got) != 0 {
		t.Errorf("after the conflict: %+v %v", got, err)
	}
	if p, err := s.GetRecord(ctx, oauth.KindPending, "pending2"); err != nil || !p.Active {
		t.Errorf("the request after the conflict: %+v %v", p, err)
	}

	errs := make([]error, 12)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			errs[i] = s.UseRecord(ctx, oauth.KindPending, "pending3", answered,
				[]oauth.Record{record(oauth.KindCode, fmt.Sprint("race", i), "req3", "p1")})
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		got, gerr := s.GetRecords(ctx, fmt.Sprint("race", i), oauth.KindCode)
		check(t, gerr)
		switch {
		case err == nil:
			won++
		case !errors.Is(err, oauth.ErrNotActive):
			t.Errorf("answer %d: %v", i, err)
		}
		if (len(got) == 1) != (err == nil) {
			t.Errorf("answer %d: %v, but its code stored: %v", i, err, len(got) == 1)
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent answers of one request wrote their code, want 1", won)
	}
}

// A code's exchange is one write: the code used, its PKCE challenge and
// OpenID request dropped, its tokens stored — all of it, or nothing when
// the code is used already, a token's partner changed or its key is
// taken. Of concurrent uses of one code exactly one issues.
func testUseRecord(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.CreatePartner(ctx, partner("p1", t0), audit("p1", "partner.create")); err != nil {
		t.Fatal(err)
	}
	code := func(sig string) {
		t.Helper()
		for _, k := range []oauth.Kind{oauth.KindCode, oauth.KindPKCE, oauth.KindOIDC} {
			check(t, s.CreateRecord(ctx, record(k, sig, "req-"+sig, "p1")))
		}
	}
	tokens := func(sig string, version int) []oauth.Record {
		a, r := record(oauth.KindAccess, "a-"+sig, "req", "p1"), record(oauth.KindRefresh, "r-"+sig, "req", "p1")
		a.PartnerVersion, r.PartnerVersion = version, version
		return []oauth.Record{a, r}
	}
	left := func(sig string) map[oauth.Kind]oauth.Record {
		t.Helper()
		got, err := s.GetRecords(ctx, sig, oauth.KindCode, oauth.KindPKCE, oauth.KindOIDC)
		check(t, err)
		return got
	}
	issued := func(sig string) bool {
		_, err := s.GetRecord(ctx, oauth.KindAccess, "a-"+sig)
		_, rerr := s.GetRecord(ctx, oauth.KindRefresh, "r-"+sig)
		return err == nil && rerr == nil
	}
	drop := []oauth.Kind{oauth.KindPKCE, oauth.KindOIDC}

	code("c1")
	if err := s.UseRecord(ctx, oauth.KindCode, "c1", drop, tokens("one", 1)); err != nil {
		t.Fatal(err)
	}
	if got := left("c1"); len(got) != 1 || got[oauth.KindCode].Active || !issued("one") {
		t.Errorf("after the exchange: %+v, tokens stored %v", got, issued("one"))
	}
	if err := s.UseRecord(ctx, oauth.KindCode, "c1", drop, tokens("again", 1)); !errors.Is(err, oauth.ErrNotActive) || issued("again") {
		t.Errorf("a used code again: %v, tokens stored %v", err, issued("again"))
	}
	if err := s.UseRecord(ctx, oauth.KindCode, "c1", drop, tokens("again", 2)); !errors.Is(err, oauth.ErrNotActive) {
		t.Errorf("a used code, for a partner that changed since: %v", err)
	}
	if err := s.UseRecord(ctx, oauth.KindCode, "none", drop, tokens("none", 1)); !errors.Is(err, oauth.ErrNotActive) {
		t.Errorf("an unknown code: %v", err)
	}

	code("c2")
	for _, tc := range []struct {
		name   string
		create []oauth.Record
		want   error
	}{
		{"a partner that changed", tokens("two", 2), oauth.ErrPartnerChanged},
		{"a taken key", append(tokens("two", 1), record(oauth.KindAccess, "a-one", "req", "p1")), oauth.ErrConflict},
		{"a key twice", append(tokens("two", 1), tokens("two", 1)[0]), oauth.ErrConflict},
	} {
		if err := s.UseRecord(ctx, oauth.KindCode, "c2", drop, tc.create); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if got := left("c2"); len(got) != 3 || !got[oauth.KindCode].Active || issued("two") {
			t.Errorf("%s: what was written stayed: %+v, tokens stored %v", tc.name, got, issued("two"))
		}
	}

	// In a transaction it rolls back with it.
	tx, err := s.BeginTx(ctx)
	check(t, err)
	err = s.UseRecord(tx, oauth.KindCode, "c2", drop, tokens("two", 1))
	check(t, s.Rollback(tx))
	check(t, err)
	if got := left("c2"); len(got) != 3 || !got[oauth.KindCode].Active || issued("two") {
		t.Errorf("after the rollback: %+v, tokens stored %v", got, issued("two"))
	}

	code("c3")
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() { errs[i] = s.UseRecord(ctx, oauth.KindCode, "c3", drop, tokens(fmt.Sprint("race", i), 1)) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, oauth.ErrNotActive):
			t.Errorf("use %d: %v", i, err)
		}
		if issued(fmt.Sprint("race", i)) != (err == nil) {
			t.Errorf("use %d: %v, but its tokens stored %v", i, err, issued(fmt.Sprint("race", i)))
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent uses of one code issued tokens, want 1", won)
	}
}

// Records created at once, as many token requests do, are each stored;
// of several with one key exactly one is, and the others conflict.
func testRecordsCreatedAtOnce(t *testing.T, s Store) {
	ctx := context.Background()
	const n = 120
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sig := fmt.Sprintf("sig%d", i)
			if i%3 == 0 {
				sig = fmt.Sprintf("shared%d", i%6) // two keys, twenty creators each
			}
			r := record(oauth.KindAccess, sig, fmt.Sprintf("req%d", i), "p1")
			if i%2 == 0 {
				r.GrantID = ""
			}
			errs[i] = s.CreateRecord(ctx, r)
		})
	}
	wg.Wait()
	won := map[string]int{}
	for i, err := range errs {
		sig := fmt.Sprintf("sig%d", i)
		if i%3 == 0 {
			sig = fmt.Sprintf("shared%d", i%6)
		}
		switch {
		case err == nil:
			won[sig]++
		case !errors.Is(err, oauth.ErrConflict):
			t.Errorf("create %d: %v", i, err)
		case i%3 != 0:
			t.Errorf("create %d with a key of its own: %v", i, err)
		}
	}
	for sig, w := range won {
		if w != 1 {
			t.Errorf("%s stored %d times", sig, w)
		}
		got, err := s.GetRecord(ctx, oauth.KindAccess, sig)
		if err != nil || !got.Active || got.ClientID != "p1" {
			t.Errorf("%s: %+v, %v", sig, got, err)
		}
	}
	if len(won) != n-n/3+2 {
		t.Errorf("%d keys stored, want %d", len(won), n-n/3+2)
	}
	if got, err := s.GetRecord(ctx, oauth.KindAccess, "sig1"); err != nil || got.GrantID != "g1" || string(got.Request) != `{"id":"req1"}` {
		t.Errorf("sig1: %+v", got)
	}
	if got, err := s.GetRecord(ctx, oauth.KindAccess, "sig2"); err != nil || got.GrantID != "" {
		t.Errorf("sig2 has grant %q, want none", got.GrantID)
	}
}

// A token is read with its partner and grant; a token without a grant, or
// whose partner is unknown, comes back without them.
func testTokenWithPartnerAndGrant(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.CreatePartner(ctx, partner("p1", t0), audit("p1", "partner.create")); err != nil {
		t.Fatal(err)
	}
	c := challenge("c1")
	if err := s.CreateChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	g := consent.Grant{ID: "g1", Citizen: c.Citizen, PartnerID: "p1", Documents: c.Documents, Purpose: "loan",
		CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour), TermsVersion: "v1", ChallengeID: "c1", Status: consent.GrantActive}
	c.Status = consent.ChallengeUsed
	if err := s.ApproveChallenge(ctx, c, g, nil); err != nil {
		t.Fatal(err)
	}
	withGrant := record(oauth.KindAccess, "sig1", "req1", "p1")
	machine := record(oauth.KindAccess, "sig2", "req2", "p1")
	machine.GrantID = ""
	orphan := record(oauth.KindRefresh, "sig3", "req3", "gone")
	orphan.GrantID = "no-such-grant"
	for _, r := range []oauth.Record{withGrant, machine, orphan} {
		if err := s.CreateRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	got, err := s.GetToken(ctx, oauth.KindAccess, "sig1")
	if err != nil {
		t.Fatal(err)
	}
	if got.RequestID != "req1" || got.GrantID != "g1" || !got.Active || string(got.Request) != string(withGrant.Request) {
		t.Errorf("record %+v", got.Record)
	}
	if got.Partner == nil || got.Partner.ID != "p1" || got.Partner.ClientNameKK != "Банк p1" || got.Partner.Status != partners.StatusActive {
		t.Errorf("partner %+v", got.Partner)
	}
	if got.Grant == nil || got.Grant.ID != "g1" || got.Grant.Citizen != c.Citizen || len(got.Grant.Documents) != 2 ||
		got.Grant.Status != consent.GrantActive || !got.Grant.ExpiresAt.Equal(g.ExpiresAt) {
		t.Errorf("grant %+v", got.Grant)
	}

	// The partner read with a token is current, and the caller's own: a
	// change of the partner's registration shows in the next read, and
	// what the caller changes in what it read does not.
	p1, err := s.GetPartner(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	p1.ClientNameKK, p1.RedirectURIs = "Жаңа банк", []string{"https://new.example/cb"}
	p1.Admission = &partners.Admission{LegalName: "Bank p1 JSC", Date: "2026-11-01"}
	if err := s.UpdatePartner(ctx, p1, partners.AuditEntry{At: t0, Actor: "operator", Action: "partner.update", PartnerID: "p1"}); err != nil {
		t.Fatal(err)
	}
	changed := func(p *partners.Partner) bool {
		return p == nil || p.ClientNameKK != "Жаңа банк" || !slices.Equal(p.RedirectURIs, []string{"https://new.example/cb"}) ||
			!slices.Equal(p.Documents, []consent.DocumentType{"id_card"}) || p.Admission == nil || p.Admission.LegalName != "Bank p1 JSC"
	}
	for i := range 3 {
		read, err := s.GetToken(ctx, oauth.KindAccess, "sig1")
		if err != nil || changed(read.Partner) {
			t.Fatalf("read %d of a token's partner after the partner changed: %+v, %v", i, read.Partner, err)
		}
		read.Partner.RedirectURIs[0], read.Partner.Documents[0] = "https://changed.example/cb", "diploma"
		read.Partner.Admission.LegalName = "changed"
	}

	// What the token reads is current: a revocation shows on the next read.
	if _, err := s.RevokeGrant(ctx, "g1", "citizen", "revoked", t0.Add(time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	if got, err = s.GetToken(ctx, oauth.KindAccess, "sig1"); err != nil || got.Grant == nil || got.Grant.Status != consent.GrantRevoked {
		t.Errorf("after revocation: %+v, %v", got.Grant, err)
	}

	if got, err = s.GetToken(ctx, oauth.KindAccess, "sig2"); err != nil || got.Grant != nil || got.Partner == nil {
		t.Errorf("machine token: grant %+v partner %v, %v", got.Grant, got.Partner, err)
	}
	if got, err = s.GetToken(ctx, oauth.KindRefresh, "sig3"); err != nil || got.Grant != nil || got.Partner != nil || got.GrantID != "no-such-grant" {
		t.Errorf("orphan token: %+v, %v", got, err)
	}
	if _, err := s.GetToken(ctx, oauth.KindRefresh, "sig1"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("another kind: got %v, want ErrNotFound", err)
	}
}

func testRecordDeactivateOnce(t *testing.T, s Store) {
	ctx := context.Background()
	check(t, s.CreateRecord(ctx, record(oauth.KindCode, "c1", "req1", "p1")))
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = s.DeactivateRecord(ctx, oauth.KindCode, "c1") })
	}
	wg.Wait()
	var ok int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, oauth.ErrNotActive):
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent deactivations succeeded, want exactly 1", ok)
	}
	if got, err := s.GetRecord(ctx, oauth.KindCode, "c1"); err != nil || got.Active {
		t.Error("record still active")
	}
	if err := s.DeactivateRecord(ctx, oauth.KindCode, "missing"); !errors.Is(err, oauth.ErrNotActive) {
		t.Errorf("missing record: got %v, want ErrNotActive", err)
	}
}

func testRecordFamilies(t *testing.T, s Store) {
	ctx := context.Background()
	for _, r := range []oauth.Record{
		record(oauth.KindAccess, "a1", "req1", "p1"),
		record(oauth.KindAccess, "a2", "req1", "p1"),
		record(oauth.KindRefresh, "r1", "req1", "p1"),
		record(oauth.KindAccess, "a3", "req2", "p1"),
		record(oauth.KindAccess, "a4", "req3", "p2"),
		record(oauth.KindPKCE, "k1", "req2", "p1"),
	} {
		if err := s.CreateRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	active := func(kind oauth.Kind, sig string) bool {
		r, err := s.GetRecord(ctx, kind, sig)
		if err != nil {
			t.Fatal(err)
		}
		return r.Active
	}
	if err := s.DeactivateRequest(ctx, oauth.KindAccess, "req1"); err != nil {
		t.Fatal(err)
	}
	if active(oauth.KindAccess, "a1") || active(oauth.KindAccess, "a2") {
		t.Error("access tokens of req1 still active")
	}
	if !active(oauth.KindRefresh, "r1") || !active(oauth.KindAccess, "a3") {
		t.Error("DeactivateRequest reached another kind or family")
	}
	if err := s.DeactivateClient(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if active(oauth.KindRefresh, "r1") || active(oauth.KindAccess, "a3") {
		t.Error("tokens of p1 still active after DeactivateClient")
	}
	if !active(oauth.KindAccess, "a4") {
		t.Error("DeactivateClient reached another client")
	}
}

func testTxRollback(t *testing.T, s Store) {
	ctx := context.Background()
	check(t, s.CreateRecord(ctx, record(oauth.KindRefresh, "r1", "req1", "p1")))
	tx, err := s.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeactivateRecord(tx, oauth.KindRefresh, "r1"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRecord(tx, record(oauth.KindRefresh, "r2", "req1", "p1")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRecord(tx, oauth.KindRefresh, "r1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollback(tx); err != nil {
		t.Fatal(err)
	}
	if r, err := s.GetRecord(ctx, oauth.KindRefresh, "r1"); err != nil || !r.Active {
		t.Errorf("after rollback r1 = %+v, %v; want it back and active", r, err)
	}
	if _, err := s.GetRecord(ctx, oauth.KindRefresh, "r2"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("after rollback r2: %v, want ErrNotFound", err)
	}
}

func testTxCommit(t *testing.T, s Store) {
	ctx := context.Background()
	tx, err := s.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRecord(tx, record(oauth.KindAccess, "a1", "req1", "p1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(tx); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollback(tx); err != nil {
		t.Errorf("rollback after commit: %v", err)
	}
	if _, err := s.GetRecord(ctx, oauth.KindAccess, "a1"); err != nil {
		t.Errorf("after commit: %v", err)
	}
}

func testSigningKeyOnce(t *testing.T, s Store) {
	ctx := context.Background()
	var mu sync.Mutex
	made := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			err := s.EnsureSigningKey(ctx, func() (oauth.SigningKey, error) {
				mu.Lock()
				defer mu.Unlock()
				made++
				return oauth.SigningKey{KID: fmt.Sprintf("k%d", made), Alg: "ES256", Private: []byte{1}, CreatedAt: t0, ActivatesAt: t0}, nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	keys, err := s.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || made != 1 {
		t.Fatalf("%d keys stored, %d generated; want exactly one of each", len(keys), made)
	}
	if keys[0].KID != "k1" || keys[0].Alg != "ES256" || !keys[0].RetiredAt.IsZero() {
		t.Errorf("key %+v", keys[0])
	}
	// Rotation retires the old key when the new one activates.
	next := oauth.SigningKey{KID: "k2", Alg: "ES256", Private: []byte{2}, CreatedAt: t0.Add(time.Hour), ActivatesAt: t0.Add(time.Hour + time.Minute)}
	if err := s.RotateSigningKey(ctx, next); err != nil {
		t.Fatal(err)
	}
	keys, err = s.SigningKeys(ctx)
	check(t, err)
	if len(keys) != 2 || keys[0].KID != "k2" || !keys[0].RetiredAt.IsZero() || !keys[1].RetiredAt.Equal(next.ActivatesAt) || !keys[0].ActivatesAt.Equal(next.ActivatesAt) {
		t.Errorf("after rotation: %+v", keys)
	}
}

// A record decided on a partner at some version is stored only if the
// partner is still at it and active, alone or in a batch with others; it
// keeps the partner's epoch, which a suspension moves on.
func testRecordPartnerCondition(t *testing.T, s Store) {
	ctx := context.Background()
	p := partner("p1", t0)
	if err := s.CreatePartner(ctx, p, audit("p1", "partner.create")); err != nil {
		t.Fatal(err)
	}
	at := func(sig string, version int) oauth.Record {
		r := record(oauth.KindAccess, sig, "req-"+sig, "p1")
		r.PartnerVersion, r.PartnerEpoch = version, 0
		return r
	}
	if err := s.CreateRecord(ctx, at("v1", 1)); err != nil {
		t.Fatalf("at the partner's version: %v", err)
	}
	if err := s.CreateRecord(ctx, at("v2", 2)); !errors.Is(err, oauth.ErrPartnerChanged) {
		t.Errorf("at a version the partner is not at: %v", err)
	}
	if _, err := s.GetRecord(ctx, oauth.KindAccess, "v2"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("a refused record was stored: %v", err)
	}
	p.Status, p.Epoch = partners.StatusSuspended, 1
	if err := s.UpdatePartner(ctx, p, audit("p1", "partner.suspend")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetPartner(ctx, "p1"); err != nil || got.Epoch != 1 || got.Version != 2 {
		t.Errorf("after suspension: epoch %d version %d, want 1 and 2", got.Epoch, got.Version)
	}
	if err := s.CreateRecord(ctx, at("s2", 2)); !errors.Is(err, oauth.ErrPartnerChanged) {
		t.Errorf("for a suspended partner: %v", err)
	}
	if err := s.CreateRecord(ctx, at("free", 0)); err != nil {
		t.Errorf("a record decided on no partner: %v", err)
	}
	// At once, as the batch writer joins them: each gets its own answer.
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Go(func() {
			version := []int{0, 1, 2}[i%3]
			errs[i] = s.CreateRecord(ctx, at(fmt.Sprint("b", i), version))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if want := i%3 == 0; (err == nil) != want || (!want && !errors.Is(err, oauth.ErrPartnerChanged)) {
			t.Errorf("record %d at version %d: %v", i, []int{0, 1, 2}[i%3], err)
		}
	}
	r := record(oauth.KindRefresh, "epoch", "req-e", "p1")
	r.PartnerEpoch = 1
	if err := s.CreateRecord(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetRecord(ctx, oauth.KindRefresh, "epoch"); err != nil || got.PartnerEpoch != 1 {
		t.Errorf("record epoch %d, want 1", got.PartnerEpoch)
	}
	if tok, err := s.GetToken(ctx, oauth.KindRefresh, "epoch"); err != nil || tok.PartnerEpoch != 1 || tok.Partner == nil || tok.Partner.Epoch != 1 {
		t.Errorf("token epoch %d, partner %+v", tok.PartnerEpoch, tok.Partner)
	}
}

// check stops the test when a step of its set-up failed: a contract test
// that goes on after one asserts nothing.
