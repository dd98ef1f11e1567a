package consent_test

import (
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
)

func TestRateArithmetic(t *testing.T) {
	hour := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name                     string
		current, previous, limit int
		at                       time.Duration // into the current window
		carry                    int
		retry                    time.Duration
	}{
		{"empty", 0, 0, 3, 0, 0, 0},
		{"under the limit", 2, 0, 3, 30 * time.Minute, 0, 0},
		{"full: until the next window carries 2 of 3", 3, 0, 3, 10 * time.Minute, 0, 70 * time.Minute},
		{"full at its last moment", 3, 0, 3, time.Hour - time.Second, 0, 20*time.Minute + time.Second},
		{"a limit of 1 waits a whole window more", 1, 0, 1, 0, 0, 2 * time.Hour},
		{"the previous window carries all at first", 0, 3, 3, 0, 3, 20 * time.Minute},
		{"carries rounded up", 0, 3, 3, 19 * time.Minute, 3, time.Minute},
		{"carries 2 of 3 a third in", 0, 3, 3, 20 * time.Minute, 2, 0},
		{"carry and count together", 1, 4, 3, 30 * time.Minute, 2, 15 * time.Minute},
		{"at least a second", 0, 3, 3, 20*time.Minute - time.Millisecond, 3, time.Second},
		{"over the limit after a lowered limit", 5, 5, 3, 30 * time.Minute, 3, time.Hour + 6*time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := hour.Add(tt.at)
			start, covered := consent.RateWindow(now, time.Hour)
			if !start.Equal(hour) || covered != time.Hour-tt.at {
				t.Fatalf("window %v covering %v", start, covered)
			}
			if got := consent.RateCarry(tt.previous, covered, time.Hour); got != tt.carry {
				t.Errorf("carry %d, want %d", got, tt.carry)
			}
			if got := consent.RateRetry(tt.current, tt.previous, tt.limit, time.Hour, now); got != tt.retry {
				t.Errorf("retry after %v, want %v", got, tt.retry)
			}
		})
	}
}
