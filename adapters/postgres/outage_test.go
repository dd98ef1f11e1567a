package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/postgres"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// A server that went away is ErrUnavailable on every kind of call (a
// read, a batched write, a transaction, a rate-limit hit), noted in the
// request's context, and never mistaken for "not found"; when it comes
// back the same store works again.
func TestStoreDownIsUnavailable(t *testing.T) {
	proxy, url := pgtest.NewProxy(t, pgtest.URL(t))
	s := openAt(t, url, postgres.Options{MaxConns: 4, Timeout: time.Second})
	calls := map[string]func(ctx context.Context) error{
		"read a partner": func(ctx context.Context) error { _, err := s.GetPartner(ctx, "nobody"); return err },
		"read a token":   func(ctx context.Context) error { _, err := s.GetToken(ctx, oauth.KindAccess, "sig"); return err },
		"write a record": func(ctx context.Context) error {
			return s.CreateRecord(ctx, oauth.Record{Kind: oauth.KindJTI, Signature: fmt.Sprint(time.Now().UnixNano()), ExpiresAt: time.Now().Add(time.Minute)})
		},
		"write history": func(ctx context.Context) error {
			return s.RecordAccess(ctx, consent.AccessEvent{At: time.Now(), Citizen: "900101400559", Holder: "900101400559", PartnerID: "p", GrantID: "g", Document: "id_card", Kind: consent.AccessFetch})
		},
		"count a hit": func(ctx context.Context) error { return s.Hit(ctx, "k", 5, time.Minute, time.Now()) },
		"transaction": func(ctx context.Context) error {
			_, err := s.RevokeGrant(ctx, "g", "citizen", "test", time.Now(), nil)
			return err
		},
		// A transaction's BEGIN goes with its first statement.
		"begin, then read": func(ctx context.Context) error {
			tx, err := s.BeginTx(ctx)
			if err != nil {
				return err
			}
			defer func() { _ = s.Rollback(tx) }()
			_, err = s.GetPartner(tx, "nobody")
			return err
		},
		"ping": s.Ping,
	}
	for _, mode := range []struct {
		name string
		cut  func()
	}{{"down", proxy.Down}, {"frozen", proxy.Freeze}} {
		mode.cut()
		for name, call := range calls {
			ctx := consent.WatchStore(context.Background())
			start := time.Now()
			err := call(ctx)
			if !errors.Is(err, consent.ErrUnavailable) {
				t.Errorf("%s, %s: %v, want ErrUnavailable", mode.name, name, err)
			}
			if !consent.StoreFailed(ctx, nil) {
				t.Errorf("%s, %s: the failure was not noted in the context", mode.name, name)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("%s, %s: took %v with a 1s deadline", mode.name, name, took)
			}
		}
		proxy.Up()
		ctx := consent.WatchStore(context.Background())
		if _, err := s.GetPartner(ctx, "nobody"); !errors.Is(err, partners.ErrNotFound) || consent.StoreFailed(ctx, err) {
			t.Errorf("after %s, back up: %v", mode.name, err)
		}
	}
}

// A caller that goes away is not an outage.
func TestCallerGoneIsNotUnavailable(t *testing.T) {
	s := open(t)
	ctx, cancel := context.WithCancel(consent.WatchStore(context.Background()))
	cancel()
	_, err := s.GetPartner(ctx, "nobody")
	if err == nil || consent.StoreFailed(ctx, err) {
		t.Errorf("cancelled call: %v, noted as an outage: %v", err, consent.StoreFailed(ctx, err))
	}
}

// A batched write waits at most the deadline for a frozen server, and the
// writer serves the next batch once the server is back.
func TestBatchWriterSurvivesAFrozenServer(t *testing.T) {
	proxy, url := pgtest.NewProxy(t, pgtest.URL(t))
	s := openAt(t, url, postgres.Options{MaxConns: 4, Timeout: 500 * time.Millisecond})
	proxy.Freeze()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			err := s.CreateRecord(context.Background(), oauth.Record{Kind: oauth.KindJTI, Signature: fmt.Sprint("frozen-", i), ExpiresAt: time.Now().Add(time.Minute)})
			if !errors.Is(err, consent.ErrUnavailable) {
				t.Errorf("write %d to a frozen server: %v", i, err)
			}
		})
	}
	wg.Wait()
	proxy.Up()
	if err := s.CreateRecord(context.Background(), oauth.Record{Kind: oauth.KindJTI, Signature: "after", ExpiresAt: time.Now().Add(time.Minute)}); err != nil {
		t.Errorf("write after the server came back: %v", err)
	}
}

// The partner cache is trusted only while its listener hears the server:
// a listener whose server froze stops vouching for the cache.
func TestPartnerCacheDropsWhenTheServerFreezes(t *testing.T) {
	proxy, url := pgtest.NewProxy(t, pgtest.URL(t))
	s := openAt(t, url, postgres.Options{MaxConns: 4, CachePartners: true, Timeout: 300 * time.Millisecond, ListenCheck: 200 * time.Millisecond})
	ctx := context.Background()
	now := time.Now().UTC()
	createPartner(t, s, "p1", "openid", now)
	cached := s.CachedPartners()
	waitFor(t, "the cache to start", func() bool { _, _ = cached.GetPartner(ctx, "p1"); return cached.Cached("p1") })
	proxy.Freeze()
	waitFor(t, "the cache to stop vouching", func() bool { return !cached.Cached("p1") })
	proxy.Up()
	waitFor(t, "the cache to start again", func() bool { _, _ = cached.GetPartner(ctx, "p1"); return cached.Cached("p1") })
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
