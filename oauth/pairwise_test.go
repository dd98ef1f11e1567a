package oauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"sync"
	"testing"
)

// A pairwise subject is HMAC-SHA256 under the pairwise key of the partner
// and the IIN, whichever goroutine asks and whatever it asked before.
func TestPairwiseSubject(t *testing.T) {
	s, err := NewSecrets([]byte("a-secret-of-thirty-two-bytes-at-least"))
	if err != nil {
		t.Fatal(err)
	}
	want := func(client, citizen string) string {
		m := hmac.New(sha256.New, s.pairwise)
		m.Write([]byte(client + "\x00" + citizen))
		return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	if a, b := s.PairwiseSubject("bank-a", "850315300128"), s.PairwiseSubject("bank-b", "850315300128"); a == b {
		t.Error("two partners know a citizen by one subject")
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				client, citizen := "bank-"+strconv.Itoa(g), strconv.Itoa(850315300000+i)
				if got := s.PairwiseSubject(client, citizen); got != want(client, citizen) {
					t.Errorf("PairwiseSubject(%s, %s) = %s", client, citizen, got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkPairwiseSubject(b *testing.B) {
	s, err := NewSecrets([]byte("a-secret-of-thirty-two-bytes-at-least"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.PairwiseSubject("d6a2e31e8768e05828d2e24c3983c371", "850315300128")
	}
}
