package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/postgres"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
)

func benchStore(b *testing.B) *postgres.Store {
	return openAt(b, pgtest.URL(b), postgres.Options{MaxConns: 16})
}

// The queries every token use makes: a record by primary key (alone, and
// with its partner and grant as every token check reads it), and the
// insert of a new token, one caller at a time and many at once (batched).
func BenchmarkRecordQueries(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	// The token's partner and grant, which GetToken reads with it.
	now := time.Now().UTC()
	createPartner(b, s, "p1", "openid documents:id_card", now)
	c := consent.Challenge{ID: "ch1", PendingID: "pend", PartnerID: "p1", Session: "session:abc", Citizen: "850315300128",
		Documents: []consent.DocumentType{"id_card"}, Days: 30, CodeHash: []byte{1, 2, 3}, Status: consent.ChallengePending,
		Lang: "kk", CreatedAt: now, SentAt: now, ExpiresAt: now.Add(5 * time.Minute), Version: 1}
	if err := s.CreateChallenge(ctx, c); err != nil {
		b.Fatal(err)
	}
	c.Status = consent.ChallengeUsed
	g := consent.Grant{ID: "g1", Citizen: c.Citizen, PartnerID: "p1", Documents: c.Documents, Holders: []consent.IIN{c.Citizen},
		CreatedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour), TermsVersion: "v1", ChallengeID: c.ID, Status: consent.GrantActive}
	if err := s.ApproveChallenge(ctx, c, g, nil); err != nil {
		b.Fatal(err)
	}
	rec := oauth.Record{Kind: oauth.KindAccess, Signature: "sig", RequestID: "req", ClientID: "p1", GrantID: "g1", Active: true,
		ExpiresAt: time.Now().Add(time.Hour), Request: []byte(`{"id":"req"}`)}
	if err := s.CreateRecord(ctx, rec); err != nil {
		b.Fatal(err)
	}
	b.Run("GetRecord", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.GetRecord(ctx, oauth.KindAccess, "sig"); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("GetToken", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if t, err := s.GetToken(ctx, oauth.KindAccess, "sig"); err != nil || t.Partner == nil || t.Grant == nil {
					b.Fatal(t, err)
				}
			}
		})
	})
	var n atomic.Int64 // across runs: the benchmark function runs more than once
	b.Run("CreateRecordParallel", func(b *testing.B) {
		b.SetParallelism(16) // many requests at once, as under load
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r := rec
				r.Signature = fmt.Sprintf("par-%d", n.Add(1))
				if err := s.CreateRecord(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("CreateRecord", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			r := rec
			r.Signature = fmt.Sprintf("sig-%d", i)
			if err := s.CreateRecord(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// One busy key, as a carrier NAT's address is: hits from 32 callers at
// once on the same key, under a limit high enough that all are counted
// and under the default 30 an hour (all but 30 refused); and on a key
// each.
func BenchmarkRateLimitHit(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	var n atomic.Int64
	for _, tc := range []struct {
		name  string
		limit int
		key   func() string
	}{
		{"OneKey", 1 << 30, func() string { return "otp-ip:nat" }},
		{"OneKeyOverLimit", 30, func() string { return "otp-ip:nat-limited" }},
		{"KeyEach", 30, func() string { return fmt.Sprintf("otp-ip:%d", n.Add(1)) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetParallelism(16) // 32 callers on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					err := s.Hit(ctx, tc.key(), tc.limit, time.Hour, time.Now())
					if err != nil && !errors.As(err, new(*consent.RateLimitError)) {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
