// Command kelisim-bench drives a running Kelisim gateway over HTTP on
// loopback and reports, per scenario and concurrency: requests per second,
// p50/p90/p99/max latency, errors by status, and — given the gateway's pid
// — CPU seconds per request and peak resident memory.
//
//	kelisim-bench -base http://127.0.0.1:8080 -admin-token … -sms-addr 127.0.0.1:18025 \
//	  -scenarios token,introspect,documents,raw,consent -concurrency 16,64 -duration 10s -pid 1234
//
// It onboards its own partners through the admin API and acts as the
// gateway's SMS provider (run the gateway with KELISIM_SMS=http and
// KELISIM_SMS_URL=http://{sms-addr}/sms) to read one-time codes. The
// consent scenario needs the synthetic population
// (KELISIM_SYNTHETIC_CITIZENS) and limits raised for load. The raw
// scenario measures, against -database, what a document fetch cannot
// beat: a primary-key read, an insert and an ES256 signature per request.
//
// kelisim-bench load fills an empty database with a year of a national
// service first (see load.go), for the scenarios on a loaded database.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	run := run
	if len(os.Args) > 1 && os.Args[1] == "load" {
		run = func(ctx context.Context, args []string, out io.Writer) error { return loadCommand(ctx, args[1:], out) }
	}
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kelisim-bench:", err)
		os.Exit(1)
	}
}

type options struct {
	base, adminToken, smsAddr string
	scenarios                 []string
	concurrency               []int
	duration                  time.Duration
	maxRequests               int
	pid                       int
	poolerPID                 int // a connection pooler's, for its CPU per request
	postmasterPID             int // PostgreSQL's, to count its cluster's processes only
	population                int
	jsonOut                   bool
	dpop                      bool
	markdown                  string
	metrics                   string        // the gateway's /metrics, for statements per request
	database                  string        // PostgreSQL, for the raw bound
	cpuProfile                string        // where to write the tool's own CPU profile
	drain                     time.Duration // after a consent run, wait this long at most for its notices to go out
	// A second gateway measured in turns with the first (see turns):
	// its base URL, pid, metrics, database, SMS address and table.
	twin          twinOptions
	twinScenarios []string
	twinMarkdown  string
	slice         time.Duration
}

type twinOptions struct {
	base, metrics, database, smsAddr string
	pid                              int
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("kelisim-bench", flag.ContinueOnError)
	var o options
	var scenarios, conc string
	fs.StringVar(&o.base, "base", "http://127.0.0.1:8080", "gateway base URL (loopback)")
	fs.StringVar(&o.adminToken, "admin-token", os.Getenv("KELISIM_ADMIN_TOKEN"), "admin bearer token")
	fs.StringVar(&o.smsAddr, "sms-addr", "127.0.0.1:18025", "where the tool receives the gateway's SMS posts")
	fs.StringVar(&scenarios, "scenarios", "token,introspect,documents,consent", "scenarios to run")
	fs.StringVar(&conc, "concurrency", "16,64", "concurrency levels")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "time per scenario and concurrency")
	fs.IntVar(&o.maxRequests, "max-requests", 1_000_000, "bound on requests per scenario and concurrency")
	fs.IntVar(&o.pid, "pid", 0, "the gateway's pid, for CPU per request and peak RSS")
	fs.IntVar(&o.poolerPID, "pooler-pid", 0, "a connection pooler's pid (PgBouncer), for its CPU per request (JSON only)")
	fs.IntVar(&o.postmasterPID, "postgres-pid", 0, "PostgreSQL's postmaster pid: count its processes only, not every process named postgres")
	fs.IntVar(&o.population, "population", 20000, "synthetic citizens the gateway has (KELISIM_SYNTHETIC_CITIZENS)")
	fs.BoolVar(&o.jsonOut, "json", false, "print JSON instead of a table")
	fs.BoolVar(&o.dpop, "dpop", false, "partners bind their tokens to a key: token requests and document fetches carry DPoP proofs")
	fs.StringVar(&o.markdown, "markdown", "", "also write the results as a Markdown table to this file")
	fs.StringVar(&o.metrics, "metrics", "", "the gateway's metrics URL (http://127.0.0.1:9090/metrics), for PostgreSQL statements per request")
	fs.StringVar(&o.database, "database", os.Getenv("KELISIM_DATABASE_URL"), "PostgreSQL URL for the raw bound scenario (its own tables, dropped after)")
	fs.DurationVar(&o.drain, "drain", 0, "after a consent run, wait up to this long for the outbox to send what the run queued (its notices), "+
		"and report the gateway's and PostgreSQL's CPU per flow until then (needs -database)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the load tool's own CPU profile to this file (what the tool spends of the shared cores)")
	fs.StringVar(&o.twin.base, "twin", "", "a second gateway's base URL: run the same scenarios on it in turns with -base, in slices of -slice "+
		"(A B B A A B ...), each side for -duration, and report each side's figures (for an empty and a loaded database side by side)")
	fs.IntVar(&o.twin.pid, "twin-pid", 0, "the second gateway's pid")
	fs.StringVar(&o.twin.metrics, "twin-metrics", "", "the second gateway's metrics URL")
	fs.StringVar(&o.twin.database, "twin-database", "", "the second gateway's PostgreSQL URL (the same cluster as -database's)")
	fs.StringVar(&o.twin.smsAddr, "twin-sms-addr", "127.0.0.1:18026", "where the tool receives the second gateway's SMS posts")
	twinScenarios := fs.String("twin-scenarios", "", "with -twin, the scenarios the second gateway runs instead of -scenarios, one for each "+
		"(raw beside documents: the two measure alike)")
	fs.StringVar(&o.twinMarkdown, "twin-markdown", "", "write the second gateway's results as a Markdown table to this file")
	fs.DurationVar(&o.slice, "slice", 2*time.Second, "with -twin, how long each turn lasts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	o.scenarios = strings.Split(scenarios, ",")
	if *twinScenarios != "" {
		if o.twinScenarios = strings.Split(*twinScenarios, ","); len(o.twinScenarios) != len(o.scenarios) {
			return errors.New("-twin-scenarios names one scenario for each of -scenarios")
		}
	}
	for _, c := range strings.Split(conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 || n > 1024 {
			return fmt.Errorf("bad concurrency %q", c)
		}
		o.concurrency = append(o.concurrency, n)
	}
	if u := strings.TrimPrefix(strings.TrimPrefix(o.base, "http://"), "https://"); !isLoopback(u) {
		return fmt.Errorf("%s is not on loopback: the load tool only drives a local gateway", o.base)
	}
	if o.adminToken == "" {
		return errors.New("-admin-token (or KELISIM_ADMIN_TOKEN) is required")
	}

	if o.twin.base != "" {
		if u := strings.TrimPrefix(strings.TrimPrefix(o.twin.base, "http://"), "https://"); !isLoopback(u) {
			return fmt.Errorf("%s is not on loopback: the load tool only drives a local gateway", o.twin.base)
		}
		if o.drain > 0 || o.slice <= 0 {
			return errors.New("-twin takes a positive -slice and no -drain")
		}
	}

	b, err := newBench(ctx, o)
	if err != nil {
		return err
	}
	defer b.close()
	var twin *bench
	if o.twin.base != "" {
		to := o
		to.base, to.pid, to.metrics, to.database, to.smsAddr = o.twin.base, o.twin.pid, o.twin.metrics, o.twin.database, o.twin.smsAddr
		if twin, err = newBench(ctx, to); err != nil {
			return err
		}
		defer twin.close()
		b.turns = &turns{slice: o.slice, postmaster: o.postmasterPID}
		twin.turns, twin.side = b.turns, 1
	}
	var results, twinResults []result
	for i, sc := range o.scenarios {
		twinSc := sc
		if o.twinScenarios != nil {
			twinSc = o.twinScenarios[i]
		}
		for _, c := range o.concurrency {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rs, ts, err := both(ctx, b, twin, strings.TrimSpace(sc), strings.TrimSpace(twinSc), c)
			if err != nil {
				return fmt.Errorf("%s at %d: %w", sc, c, err)
			}
			for _, r := range rs {
				results = append(results, r)
				if !o.jsonOut {
					fmt.Fprintln(out, r.row())
				}
			}
			for _, r := range ts {
				r.Side = "twin"
				twinResults = append(twinResults, r)
				if !o.jsonOut {
					fmt.Fprintln(out, "twin: "+r.row())
				}
			}
		}
	}
	if o.twinMarkdown != "" {
		if err := os.WriteFile(o.twinMarkdown, []byte(markdown(twinResults)), 0o644); err != nil {
			return err
		}
	}
	if o.jsonOut {
		results = append(results, twinResults...)
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
	}
	if o.markdown != "" {
		return os.WriteFile(o.markdown, []byte(markdown(results)), 0o644)
	}
	return nil
}

// both runs a scenario on b and, with a twin, on the twin at the same
// time, their measurements taken in turns; the first error of either
// stops the other.
func both(ctx context.Context, b, twin *bench, name, twinName string, conc int) (rs, ts []result, err error) {
	if twin == nil {
		rs, err = b.scenario(ctx, name, conc)
		return rs, nil, err
	}
	return bothWith(ctx, b, twin, func(ctx context.Context, side *bench) ([]result, error) {
		return side.scenario(ctx, []string{name, twinName}[side.side], conc)
	})
}

// bothWith runs run on b and on twin at the same time and returns the
// first error either met (a measurement the two could not take in turns
// included), the other's run cancelled by it.
func bothWith(ctx context.Context, b, twin *bench, run func(context.Context, *bench) ([]result, error)) (rs, ts []result, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b.turns.begin()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i, side := range []*bench{b, twin} {
		wg.Go(func() {
			side.turnErr = nil
			out, err := run(ctx, side)
			side.turns.finish(i)
			if err == nil {
				err = side.turnErr
			}
			if err != nil {
				if i == 1 {
					err = fmt.Errorf("on %s: %w", twin.o.base, err)
				}
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				cancel()
			}
			if i == 0 {
				rs = out
			} else {
				ts = out
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, nil, first
	}
	return rs, ts, nil
}

func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(strings.SplitN(hostport, "/", 2)[0])
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// result is one scenario at one concurrency.
type result struct {
	Side        string         `json:"side,omitempty"` // "twin" for the second gateway's (-twin)
	Scenario    string         `json:"scenario"`
	Concurrency int            `json:"concurrency"`
	Requests    int            `json:"requests"`
	Seconds     float64        `json:"seconds"`
	RPS         float64        `json:"rps"`
	P50, P90    float64        `json:"-"`
	P99, Max    float64        `json:"-"`
	LatencyMS   map[string]any `json:"latency_ms"`
	Errors      map[string]int `json:"errors"`
	CPUPerReqMS float64        `json:"cpu_ms_per_request,omitempty"`
	PeakRSSMB   float64        `json:"peak_rss_mb,omitempty"`
	// Where the rest of the machine's CPU went, per request: this tool,
	// and PostgreSQL's processes; Busy is the share of all cores in use.
	ToolCPUPerReqMS float64 `json:"tool_cpu_ms_per_request"`
	PGCPUPerReqMS   float64 `json:"postgres_cpu_ms_per_request"`
	BusyPercent     float64 `json:"machine_busy_percent"`
	// PoolerCPUPerReqMS is the pooler's (-pooler-pid), over the same
	// window as PostgreSQL's.
	PoolerCPUPerReqMS float64 `json:"pooler_cpu_ms_per_request,omitempty"`
	// StatementsPerReq is how many statements the gateway sent PostgreSQL
	// per request, its background work (outbox, upkeep, sealing) included;
	// InRequestsPerReq is those it sent while answering the requests.
	StatementsPerReq float64 `json:"statements_per_request,omitempty"`
	InRequestsPerReq float64 `json:"statements_in_requests_per_request,omitempty"`
	// BlocksReadPerReq is how many blocks PostgreSQL read from outside its
	// shared buffers (the OS cache or the disk) for the database per
	// request: what a table larger than its buffers costs.
	BlocksReadPerReq float64 `json:"postgres_blocks_read_per_request"`
	// With -drain, a consent run's notices: how long after the window the
	// outbox took to send all the run queued (DrainSeconds; -1 if it did
	// not within -drain), and the gateway's and PostgreSQL's CPU per flow
	// from the window's start until then. A gateway that defers its
	// notices past the window pays for them here.
	DrainSeconds       float64 `json:"outbox_drain_seconds,omitempty"`
	DrainedCPUPerReqMS float64 `json:"cpu_ms_per_request_until_drained,omitempty"`
}

// errorList is the errors by status, sorted, or none.
func (r result) errorList(none, sep string) string {
	if len(r.Errors) == 0 {
		return none
	}
	var parts []string
	for k, v := range r.Errors {
		parts = append(parts, fmt.Sprintf("%s: %d", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, sep)
}

func (r result) row() string {
	errs := r.errorList("-", " ")
	cpu, rss := "-", "-"
	if r.CPUPerReqMS > 0 {
		cpu, rss = fmt.Sprintf("%.3f", r.CPUPerReqMS), fmt.Sprintf("%.0f", r.PeakRSSMB)
	}
	return fmt.Sprintf("%-28s c=%-3d %8.0f req/s  p50 %6.1f ms  p90 %6.1f ms  p99 %6.1f ms  max %7.1f ms  cpu/req %s ms  rss %s MB  errors %s  (pg %.3f ms, tool %.3f ms, busy %.0f%%, %.1f statements/req, %.1f in the requests)",
		r.Scenario, r.Concurrency, r.RPS, r.P50, r.P90, r.P99, r.Max, cpu, rss, errs, r.PGCPUPerReqMS, r.ToolCPUPerReqMS, r.BusyPercent, r.StatementsPerReq, r.InRequestsPerReq)
}

func markdown(rs []result) string {
	// The drained columns only when a run drained (-drain), so the table
	// make bench joins keeps its shape.
	drained := slices.ContainsFunc(rs, func(r result) bool { return r.DrainSeconds != 0 })
	var b strings.Builder
	b.WriteString("| scenario | concurrency | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | gateway CPU ms/req | peak RSS MB | errors | PostgreSQL CPU ms/req | load tool CPU ms/req | machine busy | statements/req | of them in the requests | PostgreSQL blocks read/req |")
	sep := "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	if drained {
		b.WriteString(" outbox drained after s | gateway and PostgreSQL CPU ms/req until drained |")
		sep += " --- | --- |"
	}
	b.WriteString("\n" + sep + "\n")
	for _, r := range rs {
		errs := r.errorList("0", ", ")
		fmt.Fprintf(&b, "| %s | %d | %d | %.0f | %.1f | %.1f | %.1f | %.1f | %.3f | %.0f | %s | %.3f | %.3f | %.0f %% | %.1f | %.1f | %.1f |",
			r.Scenario, r.Concurrency, r.Requests, r.RPS, r.P50, r.P90, r.P99, r.Max, r.CPUPerReqMS, r.PeakRSSMB, errs,
			r.PGCPUPerReqMS, r.ToolCPUPerReqMS, r.BusyPercent, r.StatementsPerReq, r.InRequestsPerReq, r.BlocksReadPerReq)
		if drained {
			fmt.Fprintf(&b, " %.1f | %.3f |", r.DrainSeconds, r.DrainedCPUPerReqMS)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// measure runs op from conc workers until the duration or the request
// bound is reached and summarises it. op returns the HTTP status (0 for a
// transport error) and whether the request succeeded.
//
// With turns (-twin), it first waits for the other side to reach the
// same measurement and then runs only in its own slices (see turns).
func (b *bench) measure(ctx context.Context, name string, conc int, op func(worker, i int) (int, bool)) result {
	var rd *round
	if b.turns != nil {
		var err error
		b.measured++
		if rd, err = b.turns.meet(ctx, b.side, b.measured, conc, b.o.duration); err != nil {
			b.turnErr = err // both() reports it
			return result{Scenario: name, Concurrency: conc, Errors: map[string]int{"not measured": 1}}
		}
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.o.duration)
		defer cancel()
	}
	var count atomic.Int64
	lat := make([][]time.Duration, conc)
	errs := make([]map[string]int, conc)
	cpu0, tool0, pg0, pooler0 := procCPU(b.o.pid), procCPU(os.Getpid()), postgresCPU(b.o.postmasterPID), procCPU(b.o.poolerPID)
	dbNow, dbErr := dbClock(ctx, b.stats)
	stmts0, inReq0 := statements(b.o.metrics)
	blocks0, blocksErr := blocksRead(ctx, b.stats)
	busy0, total0 := machineCPU()
	peak := &rssPeak{}
	stopRSS := peak.watch(b.o.pid)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range conc {
		errs[w] = map[string]int{}
		wg.Go(func() {
			for i := 0; ; i++ {
				if rd != nil {
					if !rd.enter(b.side) {
						return
					}
				} else if ctx.Err() != nil {
					return
				}
				if count.Add(1) > int64(b.o.maxRequests) {
					if rd != nil {
						rd.leave(b.side)
					}
					return
				}
				t := time.Now()
				status, ok := op(w, i)
				if rd != nil {
					rd.leave(b.side)
				} else if ctx.Err() != nil && !ok {
					return // cut off by the end of the run, not a failure
				}
				lat[w] = append(lat[w], time.Since(t))
				if !ok {
					errs[w][strconv.Itoa(status)]++
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	tool1, pg1, pooler1 := procCPU(os.Getpid()), postgresCPU(b.o.postmasterPID), procCPU(b.o.poolerPID)
	busy1, total1 := machineCPU()
	if rd != nil { // its own slices' only
		<-rd.finished
		s := rd.spent[b.side]
		elapsed = time.Duration(s.seconds * float64(time.Second))
		tool0, tool1, pg0, pg1 = 0, s.tool, 0, s.postgres
		busy0, busy1, total0, total1 = 0, s.busy, 0, s.total
	}
	stopRSS()
	var all []time.Duration
	merged := map[string]int{}
	for w := range conc {
		all = append(all, lat[w]...)
		for k, v := range errs[w] {
			merged[k] += v
		}
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	r := result{Scenario: name, Concurrency: conc, Requests: len(all), Seconds: elapsed.Seconds(),
		RPS: float64(len(all)) / elapsed.Seconds(), P50: pct(.50), P90: pct(.90), P99: pct(.99), Errors: merged}
	if len(all) > 0 {
		r.Max = float64(all[len(all)-1].Microseconds()) / 1000
	}
	r.LatencyMS = map[string]any{"p50": r.P50, "p90": r.P90, "p99": r.P99, "max": r.Max}
	if n := float64(len(all)); n > 0 {
		r.ToolCPUPerReqMS, r.PGCPUPerReqMS = (tool1-tool0)*1000/n, (pg1-pg0)*1000/n
		r.PoolerCPUPerReqMS = (pooler1 - pooler0) * 1000 / n
	}
	if total1 > total0 {
		r.BusyPercent = 100 * (busy1 - busy0) / (total1 - total0)
	}
	if stmts1, inReq1 := statements(b.o.metrics); stmts1 > stmts0 && len(all) > 0 {
		r.StatementsPerReq = (stmts1 - stmts0) / float64(len(all))
		r.InRequestsPerReq = (inReq1 - inReq0) / float64(len(all))
	}
	if blocks1, err := blocksRead(context.WithoutCancel(ctx), b.stats); err == nil && blocksErr == nil && len(all) > 0 {
		r.BlocksReadPerReq = float64(blocks1-blocks0) / float64(len(all))
	}
	if b.o.pid > 0 && len(all) > 0 {
		r.CPUPerReqMS = (procCPU(b.o.pid) - cpu0) * 1000 / float64(len(all))
		r.PeakRSSMB = float64(peak.max.Load()) / 1024
	}
	if b.o.drain > 0 && b.stats != nil && dbErr == nil && strings.HasPrefix(name, "consent") && len(all) > 0 {
		r.DrainSeconds = drain(context.WithoutCancel(ctx), b.stats, dbNow, b.o.drain)
		r.DrainedCPUPerReqMS = (procCPU(b.o.pid) - cpu0 + postgresCPU(b.o.postmasterPID) - pg0) * 1000 / float64(len(all))
	}
	return r
}

// dbClock is PostgreSQL's time now, which the gateway's outbox entries
// written from here on are stamped after (one machine, one clock).
func dbClock(ctx context.Context, conn *pgx.Conn) (time.Time, error) {
	if conn == nil {
		return time.Time{}, errors.New("no database")
	}
	var t time.Time
	err := conn.QueryRow(ctx, `SELECT now()`).Scan(&t)
	return t, err
}

// drain waits until the outbox holds nothing pending written since from,
// polling every 100 ms for at most limit, and returns the seconds it
// waited, or -1 if the outbox did not empty in time (or could not be read).
func drain(ctx context.Context, conn *pgx.Conn, from time.Time, limit time.Duration) float64 {
	start := time.Now()
	for {
		var pending int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE status = 'pending' AND created_at >= $1`, from).Scan(&pending); err != nil {
			return -1
		}
		if pending == 0 {
			return time.Since(start).Seconds()
		}
		if time.Since(start) > limit {
			return -1
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// procStat is what /proc/<pid>/stat says of a process: its parent's pid
// and its user+system CPU seconds so far (zeros if it is gone).
func procStat(pid int) (ppid int, cpu float64) {
	if pid <= 0 {
		return 0, 0
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	ppid, _ = strconv.Atoi(fields[1])
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return ppid, (utime + stime) / 100 // USER_HZ
}

// procCPU is the process's user+system CPU seconds so far.
func procCPU(pid int) float64 {
	_, cpu := procStat(pid)
	return cpu
}

// postgresCPU is the CPU seconds so far of a PostgreSQL cluster: its
// postmaster and the processes it started (its backends live as long as
// the gateway's pool connections), or, with no postmaster given, every
// running process named postgres.
func postgresCPU(postmaster int) float64 {
	dirs, _ := os.ReadDir("/proc")
	var sum float64
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if postmaster > 0 {
			if ppid, cpu := procStat(pid); pid == postmaster || ppid == postmaster {
				sum += cpu
			}
		} else if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) == "postgres" {
			sum += procCPU(pid)
		}
	}
	return sum
}

// blocksRead is how many blocks PostgreSQL has read for conn's database
// from outside its shared buffers so far (0 without a connection).
// Backends report their counts at most once a second while busy, so a
// 10 s run's figure is good to about a tenth.
func blocksRead(ctx context.Context, conn *pgx.Conn) (int64, error) {
	if conn == nil {
		return 0, nil
	}
	var n int64
	err := conn.QueryRow(ctx, `SELECT blks_read FROM pg_stat_database WHERE datname = current_database()`).Scan(&n)
	return n, err
}

// machineCPU returns the busy and total jiffies of all cores so far.
func machineCPU() (busy, total float64) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseFloat(f, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// rssPeak samples the resident set size while a scenario runs.
type rssPeak struct{ max atomic.Int64 } // KiB

func (p *rssPeak) watch(pid int) (stop func()) {
	if pid <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err == nil {
				for _, line := range strings.Split(string(raw), "\n") {
					if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
						kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
						if kb > p.max.Load() {
							p.max.Store(kb)
						}
					}
				}
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// statements is how many statements the gateway has sent PostgreSQL, from
// the count of its store histogram, and how many of them it sent while
// answering HTTP requests; 0 without a metrics URL.
func statements(metricsURL string) (all, inRequests float64) {
	if metricsURL == "" {
		return 0, 0
	}
	resp, err := http.Get(metricsURL)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(raw), "\n") {
		sum := &all
		switch {
		case strings.HasPrefix(line, "kelisim_store_operation_duration_seconds_count"):
		case strings.HasPrefix(line, "kelisim_http_statements_total{"):
			sum = &inRequests
		default:
			continue
		}
		fields := strings.Fields(line)
		if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil {
			*sum += v
		}
	}
	return all, inRequests
}
