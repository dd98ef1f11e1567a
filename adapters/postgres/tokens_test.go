package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/postgres"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/oauth"
)

// Token reads from many requests at once share statements, and each
// caller gets its own answer: its token with its partner, or not found —
// a token of another kind, or none, among the found ones of the batch.
func TestTokenReadsShareStatements(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	statements := 0
	s := openAt(t, pgtest.URL(t), postgres.Options{MaxConns: 4, Statement: func(sql string, _ []any) {
		if strings.Contains(sql, "FROM oauth_records r") {
			mu.Lock()
			statements++
			mu.Unlock()
		}
	}})
	createPartner(t, s, "p1", "openid", time.Now())
	const tokens = 50
	for i := range tokens {
		for _, kind := range []oauth.Kind{oauth.KindAccess, oauth.KindRefresh} {
			rec := oauth.Record{Kind: kind, Signature: fmt.Sprintf("%s-%d", kind, i), RequestID: fmt.Sprintf("req-%s-%d", kind, i),
				ClientID: "p1", Active: true, ExpiresAt: time.Now().Add(time.Hour), Request: []byte(`{}`)}
			if err := s.CreateRecord(ctx, rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	mu.Lock()
	statements = 0
	mu.Unlock()

	const reads = 400
	errs := make(chan error, reads)
	var wg sync.WaitGroup
	for i := range reads {
		wg.Go(func() {
			k := i % tokens
			kind, sig, found := oauth.KindAccess, fmt.Sprintf("%s-%d", oauth.KindAccess, k), true
			switch i % 4 {
			case 1:
				kind, sig = oauth.KindRefresh, fmt.Sprintf("%s-%d", oauth.KindRefresh, k)
			case 2:
				sig, found = fmt.Sprintf("%s-%d", oauth.KindRefresh, k), false // another kind's
			case 3:
				sig, found = fmt.Sprintf("none-%d", k), false
			}
			tok, err := s.GetToken(ctx, kind, sig)
			switch {
			case !found && !errors.Is(err, oauth.ErrNotFound):
				errs <- fmt.Errorf("%s %s: %v, want not found", kind, sig, err)
			case found && err != nil:
				errs <- fmt.Errorf("%s %s: %v", kind, sig, err)
			case found && (tok.Kind != kind || tok.Signature != sig || tok.RequestID != fmt.Sprintf("req-%s-%d", kind, k) ||
				tok.Partner == nil || tok.Partner.ID != "p1"):
				errs <- fmt.Errorf("%s %s: read %+v", kind, sig, tok.Record)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if statements >= reads/2 {
		t.Errorf("%d token reads at once took %d statements: they were not batched", reads, statements)
	}
	t.Logf("%d token reads at once took %d statements", reads, statements)
}
