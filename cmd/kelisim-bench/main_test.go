package main

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
)

// A run reports the blocks PostgreSQL read from outside its buffers per
// request: what tells a loaded database's slow page from a slow plan.
// Each request here extends a table by some 20 new blocks (read, in
// PostgreSQL's count) and has its backend report them at once.
func TestMeasureCountsBlocksRead(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	stats, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer stats.Close(ctx)
	work, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer work.Close(ctx)
	if _, err := work.Exec(ctx, `CREATE TABLE grown (n int)`); err != nil {
		t.Fatal(err)
	}
	b := &bench{o: options{duration: 5 * time.Second, maxRequests: 4}, stats: stats}
	r := b.measure(ctx, "grow", 1, func(int, int) (int, bool) {
		if _, err := work.Exec(ctx, `INSERT INTO grown SELECT generate_series(1, 5000)`); err != nil {
			t.Error(err)
			return 0, false
		}
		_, err := work.Exec(ctx, `SELECT pg_stat_force_next_flush()`)
		return 200, err == nil
	})
	if r.Requests != 4 || len(r.Errors) != 0 {
		t.Fatalf("%d requests, errors %v", r.Requests, r.Errors)
	}
	if r.BlocksReadPerReq < 20 {
		t.Errorf("%.1f blocks read a request, want at least the 20 each request added", r.BlocksReadPerReq)
	}
	if row := markdown([]result{r}); !strings.Contains(row, "| PostgreSQL blocks read/req |") ||
		!strings.HasSuffix(strings.TrimSpace(row), "|") || strings.Count(strings.Split(row, "\n")[2], "|") != 18 {
		t.Errorf("markdown:\n%s", row)
	}
}

// With -drain, a consent run waits after its window until the outbox has
// sent what the run queued, and charges the run the gateway's CPU until
// then: a gateway that sends its notices after the window is not made
// cheaper by it. Here the "gateway" spins, and the run's entries are sent
// a second after its last request; an entry from before the run, still
// pending, is not the run's to wait for.
func TestMeasureDrainsTheOutbox(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	worker, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer worker.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE outbox (id serial, status text NOT NULL, created_at timestamptz NOT NULL);
		INSERT INTO outbox (status, created_at) VALUES ('pending', now() - interval '1 hour')`); err != nil {
		t.Fatal(err)
	}
	gateway := exec.Command("sh", "-c", "while :; do :; done")
	if err := gateway.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = gateway.Process.Kill(); _ = gateway.Wait() }()
	// PostgreSQL's CPU is that of a stand-in postmaster that spends none:
	// with none given, the tool sums every process named postgres, and
	// under make test the backends of other packages' tests end during the
	// run, taking their CPU out of that sum.
	postmaster := exec.Command("sleep", "600")
	if err := postmaster.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = postmaster.Process.Kill(); _ = postmaster.Wait() }()
	b := &bench{o: options{duration: 5 * time.Second, maxRequests: 5, pid: gateway.Process.Pid, postmasterPID: postmaster.Process.Pid,
		drain: 20 * time.Second}, stats: conn}
	queued := make(chan struct{}, 5)
	sent := make(chan error, 1)
	go func() {
		for range 5 {
			<-queued
		}
		time.Sleep(time.Second)
		_, err := worker.Exec(ctx, `UPDATE outbox SET status = 'delivered' WHERE created_at > now() - interval '1 minute'`)
		sent <- err
	}()
	r := b.measure(ctx, "consent (full flow)", 1, func(int, int) (int, bool) {
		_, err := conn.Exec(ctx, `INSERT INTO outbox (status, created_at) VALUES ('pending', now())`)
		queued <- struct{}{}
		return 200, err == nil
	})
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if r.Requests != 5 || r.DrainSeconds < 0.8 || r.DrainSeconds > 5 {
		t.Fatalf("%d requests, drained after %.2f s, want about 1", r.Requests, r.DrainSeconds)
	}
	// The spinning gateway's second after the window, over five flows:
	// some 200 ms a flow more (less when it shared a core).
	if extra := r.DrainedCPUPerReqMS - r.CPUPerReqMS; extra < 80 {
		t.Errorf("%.1f ms a flow in the window, %.1f until drained: the drain's CPU was not charged", r.CPUPerReqMS, r.DrainedCPUPerReqMS)
	}
	if md := markdown([]result{r}); !strings.Contains(md, "| outbox drained after s |") || strings.Count(strings.Split(md, "\n")[2], "|") != 20 {
		t.Errorf("markdown:\n%s", md)
	}

	// Entries never sent: the run gives up after -drain and says so.
	b.o.drain, b.o.maxRequests = 300*time.Millisecond, 1
	r = b.measure(ctx, "consent (full flow)", 1, func(int, int) (int, bool) {
		_, err := conn.Exec(ctx, `INSERT INTO outbox (status, created_at) VALUES ('pending', now())`)
		return 200, err == nil
	})
	if r.DrainSeconds != -1 {
		t.Errorf("an outbox never sent: drained after %.2f s, want -1", r.DrainSeconds)
	}
}

// A pooler's CPU is counted over the run's window only, per request.
func TestMeasureCountsPoolerCPU(t *testing.T) {
	busy := exec.Command("sh", "-c", "while :; do :; done")
	if err := busy.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = busy.Process.Kill(); _ = busy.Wait() }()
	time.Sleep(300 * time.Millisecond) // CPU spent before the run is not the run's
	b := &bench{o: options{duration: 5 * time.Second, maxRequests: 10, poolerPID: busy.Process.Pid}}
	r := b.measure(context.Background(), "wait", 1, func(int, int) (int, bool) {
		time.Sleep(50 * time.Millisecond)
		return 200, true
	})
	// Ten requests of 50 ms with the pooler spinning all along: about
	// 50 ms of its CPU each (less when it shared a core), never the 80
	// that counting the time before the run would add.
	if r.PoolerCPUPerReqMS < 10 || r.PoolerCPUPerReqMS > 75 {
		t.Errorf("pooler %.1f ms a request, want about 50", r.PoolerCPUPerReqMS)
	}
	b.o.poolerPID = 0
	if r := b.measure(context.Background(), "wait", 1, func(int, int) (int, bool) { return 200, true }); r.PoolerCPUPerReqMS != 0 {
		t.Errorf("no pooler, %.1f ms a request", r.PoolerCPUPerReqMS)
	}
}

// Given its postmaster, PostgreSQL's CPU is that process's and its
// children's, not another process's that spins beside it.
func TestPostgresCPUCountsOneCluster(t *testing.T) {
	spin := func(script string) *exec.Cmd {
		cmd := exec.Command("sh", "-c", script)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // to stop its children with it
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
		return cmd
	}
	// A parent that waits on a child that spins, and a stranger that spins.
	parent := spin("sh -c 'while :; do :; done' & wait")
	spin("while :; do :; done")
	time.Sleep(100 * time.Millisecond)
	idle := spin("sleep 30")

	// The child's CPU shows however busy the machine is, given time; the
	// idle one's stays nothing over as long a while.
	var got float64
	t0 := postgresCPU(parent.Process.Pid)
	for deadline := time.Now().Add(10 * time.Second); got < 0.1 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		got = postgresCPU(parent.Process.Pid) - t0
	}
	if got < 0.1 {
		t.Errorf("a cluster whose child spun for up to 10 s: %.2f s", got)
	}
	i0 := postgresCPU(idle.Process.Pid)
	time.Sleep(500 * time.Millisecond)
	if got := postgresCPU(idle.Process.Pid) - i0; got > 0.05 {
		t.Errorf("an idle cluster beside a spinning stranger: %.2f s", got)
	}
}
