package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kelisim/kelisim/adapters/postgres"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/oauth"
)

// Token reads from many requests at once share statements, and each
// caller gets its own answer: its token with its own partner, request and
// grant, or not found — a token of another kind, or none, among the found
// ones of the batch. A token whose row cannot be read fails its own
// caller only.
func TestTokenReadsShareStatements(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	var mu sync.Mutex
	statements := 0
	s := openAt(t, url, postgres.Options{MaxConns: 4, Statement: func(sql string, _ []any) {
		if strings.Contains(sql, "FROM oauth_records r") {
			mu.Lock()
			statements++
			mu.Unlock()
		}
	}})
	createPartner(t, s, "p0", "openid", time.Now())
	createPartner(t, s, "p1", "openid", time.Now())
	const tokens = 50
	partnerOf := func(k int) string { return fmt.Sprintf("p%d", k%2) }
	for k := range tokens {
		for _, kind := range []oauth.Kind{oauth.KindAccess, oauth.KindRefresh} {
			rec := oauth.Record{Kind: kind, Signature: fmt.Sprintf("%s-%d", kind, k), RequestID: fmt.Sprintf("req-%s-%d", kind, k),
				ClientID: partnerOf(k), GrantID: fmt.Sprintf("g-%d", k), Active: true, ExpiresAt: time.Now().Add(time.Hour),
				Request: fmt.Appendf(nil, `{"token":"%s-%d"}`, kind, k)}
			if err := s.CreateRecord(ctx, rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	mu.Lock()
	statements = 0
	mu.Unlock()

	const reads = 400
	// readAll reads tokens at once, some found and some not, and checks
	// each answer; with bad, the tokens of grant g-7 must fail.
	readAll := func(bad bool) {
		t.Helper()
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
				case bad && found && k == 7:
					if err == nil || errors.Is(err, oauth.ErrNotFound) {
						errs <- fmt.Errorf("%s %s, whose grant cannot be read: %v", kind, sig, err)
					}
				case !found && !errors.Is(err, oauth.ErrNotFound):
					errs <- fmt.Errorf("%s %s: %v, want not found", kind, sig, err)
				case found && err != nil:
					errs <- fmt.Errorf("%s %s: %v", kind, sig, err)
				case found && (tok.RequestID != fmt.Sprintf("req-%s-%d", kind, k) || tok.GrantID != fmt.Sprintf("g-%d", k) ||
					string(tok.Request) != fmt.Sprintf(`{"token":"%s"}`, sig) || tok.Partner == nil || tok.Partner.ID != partnerOf(k)):
					errs <- fmt.Errorf("%s %s: read %+v", kind, sig, tok.Record)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
	readAll(false)
	mu.Lock()
	if statements >= reads/2 {
		t.Errorf("%d token reads at once took %d statements: they were not batched", reads, statements)
	}
	t.Logf("%d token reads at once took %d statements", reads, statements)
	mu.Unlock()

	// Grant g-7, of the tokens numbered 7, holds a deletion that cannot be
	// decoded.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO grants (id, citizen, partner_id, documents, purpose, created_at, expires_at, terms_version,
			challenge_id, status, holders, deletion_detail)
		VALUES ('g-7', '810000000007', 'p1', ARRAY['id_card'], '', now(), now() + interval '1 day', 'v1', 'c-7', 'active',
			ARRAY['810000000007'], '"not a deletion"')`); err != nil {
		t.Fatal(err)
	}
	readAll(true)
}
