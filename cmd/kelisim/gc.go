package main

import (
	"math"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// The garbage collector's settings for serve. A gateway under load
// allocates for every request and keeps little, so at Go's default target
// (GOGC=100, a collection each time the heap doubles its live part) its
// profiles show about a seventh of its CPU collecting. At GOGC=400, in
// make bench's same-run rounds, a consent flow cost 3 % less CPU (the
// gateway's and PostgreSQL's, 5.33 against 5.51 ms); a document fetch's
// gateway CPU was 0–12 % lower over three runs, as much as the machine's
// own swing (BENCHMARKS.md). The price is memory: the heap may grow to
// five times its live part (about 100 MB more a replica under load). So
// the gateway runs at gcPercent, and when it runs in a container with a
// memory limit (a cgroup's), it sets Go's soft memory limit below it
// (gcLimitRatio): near the limit the collector works harder instead of
// the container being killed. GOGC and GOMEMLIMIT in the environment are
// Go's own and win over both.
const (
	gcPercent    = 400
	gcLimitRatio = 0.9
)

// gcSettings are the collector's settings as serve leaves them.
type gcSettings struct {
	Percent     int    // GOGC; -1: off
	PercentFrom string // "environment" or "kelisim"
	Limit       int64  // GOMEMLIMIT in bytes; math.MaxInt64: none
	LimitFrom   string // "environment", "container" or "none"
}

// gcFor decides the collector's settings from the environment and the
// container's memory limit (0 or an error: none). It applies nothing: a
// setting the environment made is read back from the runtime (reading
// GOGC sets it and puts it back). Each variable wins on its own: GOGC=off
// with no GOMEMLIMIT still gets the container's limit, as Go advises for
// running without a target.
func gcFor(getenv func(string) string, container func() (uint64, error)) gcSettings {
	s := gcSettings{Percent: gcPercent, PercentFrom: "kelisim", Limit: math.MaxInt64, LimitFrom: "none"}
	if getenv("GOGC") != "" {
		s.Percent, s.PercentFrom = debug.SetGCPercent(-1), "environment" // read back below
		debug.SetGCPercent(s.Percent)
	}
	if getenv("GOMEMLIMIT") != "" {
		s.Limit, s.LimitFrom = debug.SetMemoryLimit(-1), "environment" // -1 reads it
		return s
	}
	if limit, err := container(); err == nil && limit > 0 && limit < math.MaxInt64 {
		s.Limit, s.LimitFrom = int64(float64(limit)*gcLimitRatio), "container"
	}
	return s
}

// applyGC applies s (the environment's own settings are s's already).
func applyGC(s gcSettings) {
	debug.SetGCPercent(s.Percent)
	if s.LimitFrom == "container" {
		debug.SetMemoryLimit(s.Limit)
	}
}

// containerMemoryLimit is the cgroup's memory limit the process runs
// under (v1 or v2), read by automemlimit.
var containerMemoryLimit = memlimit.FromCgroup
