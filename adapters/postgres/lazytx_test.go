package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/postgres"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// A transaction's BEGIN goes to PostgreSQL with its first statement, in
// one round trip, and one that sends nothing sends nothing at all; it is
// still one transaction: its rollback undoes that first statement, and
// its commit keeps it.
func TestTransactionBeginsWithItsFirstStatement(t *testing.T) {
	proxy, url := pgtest.NewProxy(t, pgtest.URL(t))
	s := openAt(t, url, postgres.Options{MaxConns: 1})
	ctx := context.Background()
	rec := func(sig string) oauth.Record {
		return oauth.Record{Kind: oauth.KindJTI, Signature: sig, Active: true, ExpiresAt: time.Now().Add(time.Hour), Request: []byte("{}")}
	}
	// written, read and committed in a transaction: its round trips
	inTx := func(sig string, commit bool) int64 {
		t.Helper()
		before := proxy.Sent()
		tx, err := s.BeginTx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateRecord(tx, rec(sig)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetPartner(tx, "nobody"); !errors.Is(err, partners.ErrNotFound) {
			t.Fatal(err)
		}
		if commit {
			err = s.Commit(tx)
		} else {
			err = s.Rollback(tx)
		}
		if err != nil {
			t.Fatal(err)
		}
		return proxy.Sent() - before
	}
	inTx("warm", true) // the connection and its prepared statements
	if sent := inTx("kept", true); sent != 3 {
		t.Errorf("a transaction of two statements sent %d round trips, want 3 (BEGIN with the first, the second, COMMIT)", sent)
	}
	if _, err := s.GetRecord(ctx, oauth.KindJTI, "kept"); err != nil {
		t.Errorf("the committed record: %v", err)
	}
	inTx("undone", false)
	if _, err := s.GetRecord(ctx, oauth.KindJTI, "undone"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("the rolled-back record: %v, want it not found", err)
	}

	before := proxy.Sent()
	for _, commit := range []bool{true, false} {
		tx, err := s.BeginTx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if commit {
			err = s.Commit(tx)
		} else {
			err = s.Rollback(tx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if sent := proxy.Sent() - before; sent != 0 {
		t.Errorf("transactions that sent nothing sent %d round trips", sent)
	}

	// A failed first statement leaves a transaction to roll back, and the
	// connection fit for the next.
	tx, err := s.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRecord(tx, rec("kept")); !errors.Is(err, oauth.ErrConflict) {
		t.Errorf("a taken key first: %v", err)
	}
	if err := s.Commit(tx); err == nil {
		t.Error("a transaction whose statement failed committed")
	}
	_ = s.Rollback(tx)
	if _, err := s.GetRecord(ctx, oauth.KindJTI, "kept"); err != nil {
		t.Errorf("after the failed transaction: %v", err)
	}
}

// UseRecordAndCommit sends the use of a record and the COMMIT in one
// round trip, and commits only what UseRecord would have written: a
// record no longer active or a partner at another version rolls back the
// whole transaction, its earlier statements too.
func TestUseRecordAndCommit(t *testing.T) {
	proxy, url := pgtest.NewProxy(t, pgtest.URL(t))
	s := openAt(t, url, postgres.Options{MaxConns: 1})
	ctx := context.Background()
	now := time.Now()
	p := createPartner(t, s, "bank-commit", "openid", now)
	rec := func(kind oauth.Kind, sig string, version int) oauth.Record {
		return oauth.Record{Kind: kind, Signature: sig, ClientID: p.ID, Active: true, ExpiresAt: now.Add(time.Hour),
			Request: []byte("{}"), PartnerVersion: version}
	}
	for _, sig := range []string{"warm", "answered", "again", "moved"} {
		if err := s.CreateRecord(ctx, rec(oauth.KindPending, sig, 0)); err != nil {
			t.Fatal(err)
		}
	}
	written := func(kind oauth.Kind, sig string) bool {
		t.Helper()
		_, err := s.GetRecord(ctx, kind, sig)
		if err != nil && !errors.Is(err, oauth.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	// answer uses pending record sig in a transaction that first writes
	// a client-assertion record (the grant of a real answer), then
	// stores a code decided on the partner at version, with the commit:
	// the round trips from the first statement on, and its error.
	answer := func(sig string, version int) (int64, error) {
		decided := "decided-" + sig
		if written(oauth.KindJTI, decided) {
			decided += "-again"
		}
		t.Helper()
		tx, err := s.BeginTx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s.Rollback(tx) }()
		before := proxy.Sent()
		if err := s.CreateRecord(tx, rec(oauth.KindJTI, decided, 0)); err != nil {
			t.Fatal(err)
		}
		err = s.UseRecordAndCommit(tx, oauth.KindPending, sig, []oauth.Kind{oauth.KindPending}, []oauth.Record{rec(oauth.KindCode, "code-"+sig, version)})
		return proxy.Sent() - before, err
	}
	if _, err := answer("warm", p.Version); err != nil { // the connection and its prepared statements
		t.Fatal(err)
	}
	sent, err := answer("answered", p.Version)
	if err != nil {
		t.Fatal(err)
	}
	if sent != 2 {
		t.Errorf("a transaction of a statement and the use with its commit sent %d round trips, want 2", sent)
	}
	if !written(oauth.KindJTI, "decided-answered") || !written(oauth.KindCode, "code-answered") || written(oauth.KindPending, "answered") {
		t.Error("the answer did not commit all it wrote, or kept the request it used up")
	}

	if _, err := answer("answered", p.Version); !errors.Is(err, oauth.ErrNotActive) {
		t.Errorf("a request answered before: %v, want ErrNotActive", err)
	}
	if written(oauth.KindJTI, "decided-answered-again") {
		t.Error("the refused answer committed what it wrote before")
	}
	if _, err := answer("moved", p.Version+1); !errors.Is(err, oauth.ErrPartnerChanged) {
		t.Errorf("a partner at another version: %v, want ErrPartnerChanged", err)
	}
	if written(oauth.KindJTI, "decided-moved") || written(oauth.KindCode, "code-moved") || !written(oauth.KindPending, "moved") {
		t.Error("the answer on a changed partner committed, or used up the request")
	}
	// The connection is fit for the next transaction.
	if _, err := answer("again", p.Version); err != nil {
		t.Errorf("after the refusals: %v", err)
	}
}

// A transaction whose first statement found no connection (the pool was
// busy past its deadline) is over: a later statement does not begin a
// transaction of its own on a connection freed meanwhile, and its commit
// writes nothing, as a transaction whose first statement failed in
// PostgreSQL writes nothing either.
func TestTransactionWithoutConnectionIsOver(t *testing.T) {
	s := openAt(t, pgtest.URL(t), postgres.Options{MaxConns: 1})
	ctx := context.Background()
	rec := func(sig string) oauth.Record {
		return oauth.Record{Kind: oauth.KindJTI, Signature: sig, Active: true, ExpiresAt: time.Now().Add(time.Hour), Request: []byte("{}")}
	}
	holder, err := s.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRecord(holder, rec("holding")); err != nil { // the pool's one connection
		t.Fatal(err)
	}
	tx, err := s.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Rollback(tx) }()
	short, cancel := context.WithTimeout(tx, 50*time.Millisecond)
	err = s.CreateRecord(short, rec("first"))
	cancel()
	if err == nil {
		t.Fatal("the first statement found a connection the pool did not have")
	}
	if err := s.Commit(holder); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRecord(tx, rec("after")); err == nil {
		t.Error("a statement after the first found no connection began a transaction of its own")
	}
	_ = s.Commit(tx)
	if _, err := s.GetRecord(ctx, oauth.KindJTI, "after"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("the statement after the failed first: %v, want it not written", err)
	}
}
