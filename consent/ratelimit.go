package consent

import "time"

// A limit counts events in fixed windows of its length, one counter per
// key and window, and judges a new event by two of them: the current
// window's count plus the part of the previous window's count that the
// sliding window ending now still covers, rounded up. A store keeps each
// counter as one row it upserts in one statement, so a busy key (a carrier
// NAT's address) costs a row update, never a lock held across statements.
//
// The estimate assumes the previous window's events were spread evenly:
// any fixed window admits at most limit events, and any sliding window at
// most twice that in the worst case (all of one window's events at its end,
// then the next window's as early as the estimate lets them).

// RateWindow returns the start of the fixed window now falls in and how
// much of the previous window the sliding window ending now still covers.
func RateWindow(now time.Time, window time.Duration) (start time.Time, covered time.Duration) {
	start = now.Truncate(window)
	return start, window - now.Sub(start)
}

// RateCarry is how many of the previous window's events still count when
// covered of it is covered: previous·covered/window, rounded up, in whole
// microseconds (as a store computes it too).
func RateCarry(previous int, covered, window time.Duration) int {
	return int(ceilDiv(int64(previous)*covered.Microseconds(), window.Microseconds()))
}

// RateRetry says how long after now an event for a key with current and
// previous counts would be counted under limit.
func RateRetry(current, previous, limit int, window time.Duration, now time.Time) time.Duration {
	start, covered := RateWindow(now, window)
	if current+RateCarry(previous, covered, window) < limit {
		return 0
	}
	// within this window, once the carry is at most limit−current−1: when
	// covered ≤ window·room/previous
	if room := limit - current - 1; room >= 0 && previous > 0 {
		at := start.Add(window - time.Duration(int64(window)*int64(room)/int64(previous)))
		return max(at.Sub(now), time.Second)
	}
	// in the next window this one is the previous: once its carry is at
	// most limit−1
	at := start.Add(2 * window)
	if current > 0 {
		at = at.Add(-time.Duration(int64(window) * int64(limit-1) / int64(current)))
	}
	return max(at.Sub(now), time.Second)
}

func ceilDiv(a, b int64) int64 {
	if b <= 0 {
		return 0
	}
	return (a + b - 1) / b
}
