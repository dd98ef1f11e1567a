package oauth

import (
	"runtime"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite/token/jwt"
)

// A compact JWS made of dots is refused without splitting it into a
// million parts: go-jose/v3 before v3.0.4 allocated 16 bytes per dot
// (CVE-2025-27144), and client assertions reach that parser from the
// token endpoint.
func TestCompactJWSWithManyDotsIsCheap(t *testing.T) {
	hostile := strings.Repeat(".", 1<<20)
	for name, parse := range map[string]func() error{
		"go-jose ParseSigned": func() error { _, err := jose.ParseSigned(hostile); return err },
		"fosite ParseWithClaims": func() error {
			_, err := jwt.ParseWithClaims(hostile, jwt.MapClaims{}, nil)
			return err
		},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := parse()
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Fatalf("%s: a string of dots parsed", name)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
			t.Errorf("%s: parsing %d dots allocated %d bytes", name, len(hostile), n)
		}
	}
}
