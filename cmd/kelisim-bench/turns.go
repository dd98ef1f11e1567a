package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"
)

// turns lets two benches, the same scenarios on two gateways (the empty
// database's and the loaded one's), measure in turns: each measurement
// of one waits for the same measurement of the other, and then the two
// take the machine in slices, A B B A A B B A ..., until each has had
// the duration. What this shared machine's speed does meanwhile (it
// drifts by a fifth over minutes, and dips for tens of seconds) then
// weighs on both alike, where two runs taken one after the other can
// meet it on one side only.
//
// A slice ends when the requests begun in it have been answered: the
// side whose turn it is starts no new request, the coordinator waits
// for those in flight, and only then opens the other side. Each side's
// figures are of its own slices: its requests, and the time, the load
// tool's and PostgreSQL's CPU and the machine's busy share taken
// between a slice's opening and its last answer. The gateways' CPU,
// statements and block reads are each side's own, counted over the
// whole measurement: an idle gateway's background work (the outbox, the
// upkeep) is counted as it was in a run of its own.
//
// What this does not separate: work one side defers past its requests
// (the history's sealing round, once a minute; the outbox's notices;
// autovacuum) may run in the other side's slices and be counted in its
// PostgreSQL CPU and slow its requests. And each slice's last requests
// run at less than the full concurrency, so a side whose requests take
// long (a consent flow at 64, about 0.4 s, in 2 s slices) shows fewer
// requests a second than in a run of its own; both sides alike.
type turns struct {
	slice      time.Duration
	postmaster int // PostgreSQL's, as -postgres-pid

	mu      sync.Mutex
	waiting *round  // a measurement one side has reached and the other not yet
	done    [2]bool // a side whose scenario has returned: it measures no more
}

// begin readies the turns for a scenario run on both sides.
func (t *turns) begin() {
	t.mu.Lock()
	t.done = [2]bool{}
	t.mu.Unlock()
}

// finish marks side's scenario as returned: a measurement the other side
// waits at, or reaches later, will never be met, and fails.
func (t *turns) finish(side int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done[side] = true
	if rd := t.waiting; rd != nil && rd.side != side {
		t.waiting = nil
		rd.err = unmatched(rd.seq, rd.conc)
		close(rd.ready)
	}
}

// unmatched is the error of a measurement the other side never reaches.
func unmatched(seq, conc int) error {
	return fmt.Errorf("measurement %d at %d: the other side measured fewer times; the sides must measure alike", seq, conc)
}

// round is one measurement taken in turns: the seq-th of each side's
// run, at conc.
type round struct {
	seq  int
	conc int
	side int   // the side that arrived first
	err  error // set before ready closes when the round is not taken

	ready    chan struct{} // closed when both sides have arrived
	finished chan struct{} // closed when every slice has been taken

	mu       sync.Mutex
	cond     *sync.Cond
	active   int // the side whose slice it is; -1 between slices
	over     bool
	inflight [2]int
	spent    [2]spent
}

// spent is what one side's slices took.
type spent struct {
	seconds, tool, postgres, busy, total float64
}

// meet waits for the other side to reach its seq-th measurement and
// returns the round both take; the second to arrive starts its slices.
// The two sides run the same scenarios (or, with -twin-scenarios, ones
// that measure as often), so their seq-th measurements are at the same
// concurrency.
func (t *turns) meet(ctx context.Context, side, seq, conc int, duration time.Duration) (*round, error) {
	t.mu.Lock()
	if t.done[1-side] {
		t.mu.Unlock()
		return nil, unmatched(seq, conc)
	}
	rd := t.waiting
	if rd == nil {
		rd = &round{seq: seq, conc: conc, side: side, ready: make(chan struct{}), finished: make(chan struct{}), active: -1}
		rd.cond = sync.NewCond(&rd.mu)
		t.waiting = rd
		t.mu.Unlock()
		select {
		case <-rd.ready:
			if rd.err != nil {
				return nil, rd.err
			}
			return rd, nil
		case <-ctx.Done():
			t.mu.Lock()
			if t.waiting == rd {
				t.waiting = nil
			}
			t.mu.Unlock()
			return nil, ctx.Err()
		}
	}
	t.waiting = nil
	t.mu.Unlock()
	if rd.seq != seq || rd.conc != conc {
		rd.err = fmt.Errorf("one side's measurement %d is at %d, the other's %d at %d: the sides must measure alike", rd.seq, rd.conc, seq, conc)
		close(rd.ready)
		return nil, rd.err
	}
	close(rd.ready)
	go rd.alternate(ctx, t.slice, duration, t.postmaster)
	return rd, nil
}

// alternate gives the sides their slices, A B B A A B ..., as many each
// as fit in the duration (at least one; the last one longer by what is
// left over), and then ends the round, or sooner if ctx ends. An odd
// measurement starts with side 1, an even one with side 0, so that
// neither side always takes the first slice.
func (rd *round) alternate(ctx context.Context, slice, duration time.Duration, postmaster int) {
	slice = min(slice, duration)
	n := max(1, int(duration/slice))
	for k := range 2 * n {
		if ctx.Err() != nil {
			break
		}
		side := (k+1)/2%2 ^ rd.seq%2
		length := slice
		if k >= 2*n-2 { // each side's last slice
			length += duration - time.Duration(n)*slice
		}
		tool0, pg0 := procCPU(os.Getpid()), postgresCPU(postmaster)
		busy0, total0 := machineCPU()
		start := time.Now()
		rd.mu.Lock()
		rd.active = side
		rd.cond.Broadcast()
		rd.mu.Unlock()
		select {
		case <-time.After(length):
		case <-ctx.Done():
		}
		rd.mu.Lock()
		rd.active = -1
		for rd.inflight[side] > 0 {
			rd.cond.Wait()
		}
		rd.mu.Unlock()
		elapsed := time.Since(start)
		tool1, pg1 := procCPU(os.Getpid()), postgresCPU(postmaster)
		busy1, total1 := machineCPU()
		s := &rd.spent[side]
		s.seconds += elapsed.Seconds()
		s.tool += tool1 - tool0
		s.postgres += pg1 - pg0
		s.busy += busy1 - busy0
		s.total += total1 - total0
	}
	rd.mu.Lock()
	rd.over = true
	rd.cond.Broadcast()
	rd.mu.Unlock()
	close(rd.finished)
}

// enter waits for side's slice and counts a request in flight in it; it
// reports false when the round is over.
func (rd *round) enter(side int) bool {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	for rd.active != side && !rd.over {
		rd.cond.Wait()
	}
	if rd.over {
		return false
	}
	rd.inflight[side]++
	return true
}

// leave marks a request of side's as answered.
func (rd *round) leave(side int) {
	rd.mu.Lock()
	rd.inflight[side]--
	if rd.inflight[side] == 0 {
		rd.cond.Broadcast()
	}
	rd.mu.Unlock()
}
