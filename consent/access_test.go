package consent_test

import (
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
)

// A page goes on with what is before its cursor: earlier, or as early
// with a smaller ID; the zero cursor has everything before it.
func TestHistoryCursorOrder(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	c := consent.HistoryCursor{At: at, ID: 40}
	for _, tc := range []struct {
		name   string
		e      consent.AccessEvent
		before bool
	}{
		{"earlier, a larger ID", consent.AccessEvent{At: at.Add(-time.Microsecond), ID: 90}, true},
		{"as early, a smaller ID", consent.AccessEvent{At: at, ID: 39}, true},
		{"the cursor's own", consent.AccessEvent{At: at, ID: 40}, false},
		{"as early, a larger ID", consent.AccessEvent{At: at, ID: 41}, false},
		{"later, a smaller ID", consent.AccessEvent{At: at.Add(time.Microsecond), ID: 1}, false},
	} {
		if got := c.Before(tc.e); got != tc.before {
			t.Errorf("%s: Before = %v", tc.name, got)
		}
		if !(consent.HistoryCursor{}).Before(tc.e) {
			t.Errorf("%s: not before the zero cursor", tc.name)
		}
	}
}

// A cursor is written into a link as microseconds and ID, and read back.
func TestHistoryCursorText(t *testing.T) {
	c := consent.HistoryCursor{At: time.Date(2026, 11, 30, 10, 0, 0, 123456000, time.UTC), ID: 4211}
	if s := c.String(); s != "1796032800123456.4211" {
		t.Errorf("written as %q", s)
	}
	if got, err := consent.ParseHistoryCursor(c.String()); err != nil || got != c {
		t.Errorf("read back as %+v, %v", got, err)
	}
	if s := (consent.HistoryCursor{}).String(); s != "" {
		t.Errorf("the zero cursor written as %q", s)
	}
	for _, s := range []string{"", "4211", "0.4211", "1796032800123456.0", "-1.1", "1.+1", "1.1.1", "x.1", "253402300800000001.1"} {
		if _, err := consent.ParseHistoryCursor(s); consent.KindOf(err) != consent.KindInvalid {
			t.Errorf("%q: %v", s, err)
		}
	}
}
