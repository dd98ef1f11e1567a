package main

import (
	"errors"
	"math"
	"runtime/debug"
	"testing"
)

// restoreGC puts the test process's collector back as it found it.
func restoreGC(t *testing.T) {
	percent, limit := debug.SetGCPercent(-1), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(percent)
	t.Cleanup(func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) })
}

func TestGCSettings(t *testing.T) {
	restoreGC(t)
	const gib = 1 << 30
	none := func() (uint64, error) { return 0, errors.New("no cgroup") }
	inContainer := func() (uint64, error) { return gib, nil }
	unlimited := func() (uint64, error) { return math.MaxUint64, nil } // a cgroup whose memory.max is "max"
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	// As the runtime left them from GOGC=250 and GOMEMLIMIT=512MiB.
	debug.SetGCPercent(250)
	debug.SetMemoryLimit(512 << 20)
	for _, c := range []struct {
		name      string
		getenv    func(string) string
		container func() (uint64, error)
		want      gcSettings
	}{
		{"bare machine", env(), none, gcSettings{gcPercent, "kelisim", math.MaxInt64, "none"}},
		{"container with a limit", env(), inContainer, gcSettings{gcPercent, "kelisim", gib * 9 / 10, "container"}},
		{"container without a limit", env(), unlimited, gcSettings{gcPercent, "kelisim", math.MaxInt64, "none"}},
		{"GOGC set", env("GOGC", "250"), inContainer, gcSettings{250, "environment", gib * 9 / 10, "container"}},
		{"GOMEMLIMIT set", env("GOMEMLIMIT", "512MiB"), inContainer, gcSettings{gcPercent, "kelisim", 512 << 20, "environment"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := gcFor(c.getenv, c.container)
			if got.Limit/1024 == c.want.Limit/1024 { // the ratio's rounding
				got.Limit = c.want.Limit
			}
			if got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
	if p := debug.SetGCPercent(-1); p != 250 {
		t.Errorf("deciding changed GOGC to %d", p)
	}
	debug.SetGCPercent(250)

	// Applied: the environment's own settings are left as they are.
	applyGC(gcFor(env("GOMEMLIMIT", "512MiB"), inContainer))
	if p, l := debug.SetGCPercent(-1), debug.SetMemoryLimit(-1); p != gcPercent || l != 512<<20 {
		t.Errorf("applied: GOGC %d, memory limit %d; want %d and the environment's %d", p, l, gcPercent, 512<<20)
	}
	debug.SetGCPercent(100)
	applyGC(gcFor(env("GOGC", "100"), inContainer))
	if p, l := debug.SetGCPercent(-1), debug.SetMemoryLimit(-1); p != 100 || l != gib*9/10 {
		t.Errorf("applied: GOGC %d, memory limit %d; want the environment's 100 and %d", p, l, gib*9/10)
	}
}
