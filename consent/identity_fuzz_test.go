package consent

import (
	"testing"
	"unicode/utf8"
)

// ParseIIN and ParsePhone take what citizens type: anything. An accepted
// value is in canonical form and parses to itself again.
func FuzzParseIIN(f *testing.F) {
	for _, s := range []string{"850315300128", "8503 1530 0128", "068709861190", "", "\x00", "８５０３１５３００１２８"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		iin, err := ParseIIN(s)
		if err != nil {
			return
		}
		if len(iin) != 12 || !utf8.ValidString(string(iin)) {
			t.Fatalf("ParseIIN(%q) = %q", s, iin)
		}
		if again, err := ParseIIN(string(iin)); err != nil || again != iin {
			t.Fatalf("ParseIIN(%q) = %q, then %q, %v", s, iin, again, err)
		}
		_ = iin.Masked()
	})
}

func FuzzParsePhone(f *testing.F) {
	for _, s := range []string{"+77011234567", "8 701 123 45 67", "+7 (701) 123-4567", "", "+", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePhone(s)
		if err != nil {
			return
		}
		if len(p) != 12 || p[:3] != "+77" {
			t.Fatalf("ParsePhone(%q) = %q", s, p)
		}
		if again, err := ParsePhone(string(p)); err != nil || again != p {
			t.Fatalf("ParsePhone(%q) = %q, then %q, %v", s, p, again, err)
		}
		_ = p.Masked()
	})
}
