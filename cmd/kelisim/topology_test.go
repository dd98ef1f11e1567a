package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
)

// composeFile is what the tests read of deploy/compose.yaml.
type composeFile struct {
	Services map[string]struct {
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Networks    any               `yaml:"networks"`
	} `yaml:"services"`
}

// The compose file's topology as written: each of its gateway replicas
// with the Dockerfile's environment and the compose file's (interpolated
// from the shell as docker compose does), on one database, behind HAProxy
// running deploy/haproxy.cfg (only the replicas' host names and the
// public port moved to loopback). Requests reach every replica; a replica
// stopped under load, as in a rolling update, costs no request.
func TestComposeTopology(t *testing.T) {
	t.Parallel() // it waits out a drain window
	haproxy, err := exec.LookPath("haproxy")
	if _, serr := os.Stat("/usr/sbin/haproxy"); err != nil && serr == nil {
		haproxy, err = "/usr/sbin/haproxy", nil // Debian's, off a PATH without sbin
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("haproxy is not installed (apt-get install -y haproxy)")
		}
		t.Skip("haproxy is not installed")
	}
	raw, err := os.ReadFile("../../deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var compose composeFile
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range compose.Services {
		if strings.HasPrefix(name, "kelisim-") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) < 2 {
		t.Fatalf("compose runs %d gateway replicas, want at least 2", len(names))
	}
	proxyAddr := proxyAddress(t, compose)

	shell := map[string]string{"KELISIM_SECRET": randomToken(), "KELISIM_ADMIN_TOKEN": randomToken(), "KELISIM_DATABASE_URL": pgtest.URL(t)}
	type replica struct {
		p             *process
		addr, metrics string
	}
	replicas := map[string]replica{}
	for _, name := range names {
		svc := compose.Services[name]
		env := dockerfileEnv(t)
		for k, v := range svc.Environment {
			env[k] = interpolate(t, v, shell)
		}
		if env["KELISIM_TRUSTED_PROXIES"] != proxyAddr {
			t.Errorf("%s trusts X-Forwarded-For from %q, want the proxy alone (%s)", name, env["KELISIM_TRUSTED_PROXIES"], proxyAddr)
		}
		env["KELISIM_TRUSTED_PROXIES"] = "127.0.0.1" // where the proxy is here
		published := map[string]int{}
		for _, port := range svc.Ports {
			parts := strings.Split(port, ":")
			var n int
			fmt.Sscan(parts[len(parts)-1], &n)
			if n != 9090 {
				t.Errorf("%s publishes container port %d: only the proxy takes public traffic", name, n)
			}
			published["KELISIM_METRICS_ADDR"] = n
		}
		addrs := relisten(t, env, published)
		env["KELISIM_ADDR"] = freeAddr(t) // reached through the proxy only
		args := svc.Command
		if len(args) == 0 {
			args = []string{"serve"} // the Dockerfile's CMD
		}
		p := startBinary(t, envList(env), args...)
		waitReady(t, p, "http://"+env["KELISIM_ADDR"]+"/readyz")
		if strings.Contains(p.output.String(), shell["KELISIM_ADMIN_TOKEN"]) {
			t.Errorf("%s printed the admin token", name)
		}
		replicas[name] = replica{p: p, addr: env["KELISIM_ADDR"], metrics: addrs["KELISIM_METRICS_ADDR"]}
	}

	// deploy/haproxy.cfg with the replicas' and the public addresses moved.
	cfg := readFile(t, "../../deploy/haproxy.cfg")
	public := freeAddr(t)
	for _, name := range names {
		line := fmt.Sprintf("server %s %s:8080", name, name)
		if !strings.Contains(cfg, line) {
			t.Fatalf("haproxy.cfg lacks %q", line)
		}
		cfg = strings.Replace(cfg, line, fmt.Sprintf("server %s %s", name, replicas[name].addr), 1)
	}
	if !strings.Contains(cfg, "bind *:8080") {
		t.Fatal("haproxy.cfg does not bind the published port 8080")
	}
	cfg = strings.Replace(cfg, "bind *:8080", "bind "+public, 1)
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(haproxy, "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	proxy := &process{cmd: exec.Command(haproxy, "-db", "-f", path), output: &syncBuffer{}, done: make(chan struct{})}
	proxy.cmd.Stdout, proxy.cmd.Stderr = proxy.output, proxy.output
	if err := proxy.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { proxy.err = proxy.cmd.Wait(); close(proxy.done) }()
	t.Cleanup(func() { _ = proxy.cmd.Process.Kill(); <-proxy.done })
	waitReady(t, proxy, "http://"+public+"/readyz")

	// Round robin: every replica answers some of 20 requests.
	const route = "/.well-known/openid-configuration"
	before := map[string]float64{}
	for _, name := range names {
		before[name] = requestsServed(t, replicas[name].metrics, route)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	get := func() error {
		resp, err := client.Get("http://" + public + route)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	for range 20 {
		if err := get(); err != nil {
			t.Fatalf("through the proxy: %v\n%s", err, proxy.output)
		}
	}
	for _, name := range names {
		if requestsServed(t, replicas[name].metrics, route) == before[name] {
			t.Errorf("%s served none of 20 requests through the proxy", name)
		}
	}

	// A rolling update: the first replica gets SIGTERM while four clients
	// keep asking; it drains (readiness fails, requests still served), the
	// proxy takes it out, its listener closes. Nobody sees a failure.
	var served, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := get(); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				} else {
					served.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	first := replicas[names[0]].p
	time.Sleep(300 * time.Millisecond)
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the replica did not stop on SIGTERM")
	}
	afterStop := served.Load()
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	if failed.Load() > 0 {
		t.Errorf("%d of %d requests failed while a replica stopped (first: %v)\n%s", failed.Load(), failed.Load()+served.Load(), firstErr.Load(), proxy.output)
	}
	if served.Load() == afterStop {
		t.Error("no request was served after the replica stopped")
	}
	t.Logf("%d requests through the proxy while a replica drained and stopped, %d after", afterStop, served.Load()-afterStop)
}

// proxyAddress is the proxy's fixed address on the compose network.
func proxyAddress(t *testing.T, c composeFile) string {
	t.Helper()
	proxy, ok := c.Services["haproxy"]
	if !ok {
		t.Fatal("compose has no haproxy service")
	}
	nets, _ := proxy.Networks.(map[string]any)
	for _, n := range nets {
		if m, ok := n.(map[string]any); ok {
			if addr, ok := m["ipv4_address"].(string); ok {
				return addr
			}
		}
	}
	t.Fatal("the haproxy service has no fixed ipv4_address for the replicas to trust")
	return ""
}

// requestsServed is how many GET requests for route a replica answered,
// from its metrics.
func requestsServed(t *testing.T, metricsAddr, route string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	sum := 0.0
	prefix := `kelisim_http_request_duration_seconds_count{method="GET",route="` + route + `"`
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, prefix) {
			var v float64
			fmt.Sscan(line[strings.LastIndex(line, " ")+1:], &v)
			sum += v
		}
	}
	return sum
}
