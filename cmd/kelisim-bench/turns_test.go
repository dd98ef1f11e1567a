package main

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Two sides measured in turns never run at the same time, take the
// machine in alternating slices, each get the duration, and each are
// charged the load tool's CPU of their own slices only: here side 0's
// requests spin the CPU for 2 ms and wait 10, and side 1's wait 12.
func TestMeasureTakesTurns(t *testing.T) {
	ctx := context.Background()
	const duration, slice = 1200 * time.Millisecond, 100 * time.Millisecond
	tr := &turns{slice: slice}
	sides := []*bench{
		{o: options{duration: duration, maxRequests: 1 << 20}, turns: tr},
		{o: options{duration: duration, maxRequests: 1 << 20}, turns: tr, side: 1},
	}
	var inFlight [2]atomic.Int32
	var overlaps atomic.Int32
	var mu sync.Mutex
	var order []int // the side of each request, in the order begun
	results := make([]result, 2)
	var wg sync.WaitGroup
	for i, b := range sides {
		wg.Go(func() {
			results[i] = b.measure(ctx, "turns", 4, func(int, int) (int, bool) {
				inFlight[i].Add(1)
				defer inFlight[i].Add(-1)
				if inFlight[1-i].Load() > 0 {
					overlaps.Add(1)
				}
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				if i == 0 {
					for start := time.Now(); time.Since(start) < 2*time.Millisecond; {
					}
					time.Sleep(10 * time.Millisecond)
				} else {
					time.Sleep(12 * time.Millisecond)
				}
				return 200, true
			})
		})
	}
	wg.Wait()
	if n := overlaps.Load(); n > 0 {
		t.Errorf("%d requests began while the other side's were in flight", n)
	}
	// A B B A A B ...: twelve slices each make thirteen runs of one side.
	runs := 0
	for i := range order {
		if i == 0 || order[i] != order[i-1] {
			runs++
		}
	}
	if runs != 13 {
		t.Errorf("the sides' requests fall in %d runs, want 13 (twelve slices each, A B B A ...)", runs)
	}
	for i, r := range results {
		if r.Requests == 0 || len(r.Errors) != 0 {
			t.Fatalf("side %d: %d requests, errors %v", i, r.Requests, r.Errors)
		}
		if r.Seconds < duration.Seconds() || r.Seconds > 2*duration.Seconds() {
			t.Errorf("side %d measured for %.2f s, want its twelve slices of %v (and their last answers)", i, r.Seconds, slice)
		}
	}
	if spin, sleep := results[0].ToolCPUPerReqMS, results[1].ToolCPUPerReqMS; spin < 0.5 || sleep > spin/4 {
		t.Errorf("tool CPU a request: %.3f ms on the spinning side, %.3f ms on the sleeping one; want each side's own", spin, sleep)
	}
}

// The two sides must measure alike: a measurement met by one at another
// concurrency, or by another of the other side's measurements, is an
// error, not a comparison of unlike things.
func TestTurnsRefuseUnlikeMeasurements(t *testing.T) {
	tr := &turns{slice: time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	first := make(chan error, 1)
	go func() {
		_, err := tr.meet(ctx, 0, 1, 16, time.Millisecond)
		first <- err
	}()
	for {
		tr.mu.Lock()
		waiting := tr.waiting != nil
		tr.mu.Unlock()
		if waiting {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := tr.meet(ctx, 1, 2, 16, time.Millisecond); err == nil || !strings.Contains(err.Error(), "must measure alike") {
		t.Errorf("unlike measurements met: %v", err)
	}
	// The side that waited is told too, not left waiting for its ctx.
	if err := <-first; err == nil || !strings.Contains(err.Error(), "must measure alike") {
		t.Errorf("the waiting side: %v", err)
	}
}

// A side that measures more often than the other gets an error for the
// measurement the other never reaches, and the run ends with it: it does
// not wait for ever. Here side 0 measures twice and side 1 once, both in
// turns of a millisecond.
func TestTurnsEndWhenOneSideMeasuresLess(t *testing.T) {
	tr := &turns{slice: time.Millisecond}
	o := options{duration: 10 * time.Millisecond, maxRequests: 1 << 20}
	b, twin := &bench{o: o, turns: tr}, &bench{o: o, turns: tr, side: 1}
	done := make(chan error, 1)
	go func() {
		_, _, err := bothWith(context.Background(), b, twin, func(ctx context.Context, side *bench) ([]result, error) {
			var out []result
			for range 2 - side.side {
				out = append(out, side.measure(ctx, "count", 1, func(int, int) (int, bool) {
					time.Sleep(100 * time.Microsecond)
					return 200, true
				}))
			}
			return out, nil
		})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "measured fewer times") {
			t.Errorf("got %v, want the unmatched measurement's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the run still waits for a measurement the other side never takes")
	}
}
