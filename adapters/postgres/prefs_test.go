package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kelisim/kelisim/adapters/postgres"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/consent"
)

// A notice to a citizen who has a language reads their preferences and
// writes nothing: no row lock (xmax stays 0), no transaction ID, no
// commit to flush. Only a first language is written.
func TestNoticePrefsWritesOnlyAFirstLanguage(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s := openAt(t, url, postgres.Options{MaxConns: 4})
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	const citizen consent.IIN = "850315300128"
	now := time.Now()
	if p, err := s.NoticePrefs(ctx, citizen, "kk", now); err != nil || p.Lang != "kk" {
		t.Fatalf("a first language: %+v %v", p, err)
	}
	var xmin, xmax string
	if err := conn.QueryRow(ctx, `SELECT xmin::text, xmax::text FROM notification_prefs WHERE citizen = $1`, string(citizen)).Scan(&xmin, &xmax); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if p, err := s.NoticePrefs(ctx, citizen, "ru", now); err != nil || p.Lang != "kk" || len(p.Channels) != 1 {
			t.Fatalf("a later notice: %+v %v", p, err)
		}
	}
	var xmin2, xmax2 string
	if err := conn.QueryRow(ctx, `SELECT xmin::text, xmax::text FROM notification_prefs WHERE citizen = $1`, string(citizen)).Scan(&xmin2, &xmax2); err != nil {
		t.Fatal(err)
	}
	if xmin2 != xmin || xmax2 != "0" {
		t.Errorf("later notices wrote the row: xmin %s → %s, xmax %s → %s (a lock or an update)", xmin, xmin2, xmax, xmax2)
	}
}

// A claim's notices read what they need in one round trip: NoticeReads
// sends the reads' statements in one batch. A citizen who has no
// preferences yet and a notice without a language costs no more.
func TestNoticeReadsInOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	proxy, url := pgtest.NewProxy(t, pgtest.URL(t))
	s := openAt(t, url, postgres.Options{MaxConns: 1})
	now := time.Now()
	reads := []consent.NoticeRead{{Citizen: "850315300128", Lang: "kk"}, {Citizen: "900101400559"}, {Citizen: "850315300128", Lang: "ru", GrantID: "gone"}}
	s.NoticeReads(ctx, reads, now) // the connection and its prepared statements
	before := proxy.Sent()
	got := s.NoticeReads(ctx, reads, now)
	if sent := proxy.Sent() - before; sent != 1 {
		t.Errorf("3 reads sent %d round trips, want 1", sent)
	}
	if got[0].Err != nil || got[0].Prefs.Lang != "kk" || got[1].Err != nil || len(got[1].Prefs.Channels) != 1 || !errors.Is(got[2].Err, consent.ErrGrantNotFound) {
		t.Errorf("the reads: %+v", got)
	}
}
