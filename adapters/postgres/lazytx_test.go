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
