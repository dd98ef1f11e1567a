package consent

import (
	"errors"
	"testing"
	"time"
)

// A history cursor comes back from the citizen's client in a link: an
// accepted one is a time and an ID both after zero, which reads back to
// itself; anything else is an input error on the field before.
func FuzzHistoryCursor(f *testing.F) {
	for _, s := range []string{"1764505200123456.4211", "1.1", "", ".", "0.1", "1.0", "-1.1", "+1.1", "1.1.1", "01.01",
		"253402300800000000.1", "9223372036854775807.9223372036854775807", "1e3.1", " 1.1", "1.1\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseHistoryCursor(s)
		if err != nil {
			var in *InputError
			if !errors.As(err, &in) || in.Field != "before" {
				t.Fatalf("ParseHistoryCursor(%q): %v", s, err)
			}
			return
		}
		if c.IsZero() || c.ID <= 0 || !c.At.After(time.Unix(0, 0)) || c.At.Year() > 9999 {
			t.Fatalf("ParseHistoryCursor(%q) = %+v", s, c)
		}
		if again, err := ParseHistoryCursor(c.String()); err != nil || again != c {
			t.Fatalf("ParseHistoryCursor(%q) = %+v, written %q, read again %+v, %v", s, c, c.String(), again, err)
		}
	})
}
