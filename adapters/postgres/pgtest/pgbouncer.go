package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Bouncer is PgBouncer in transaction pooling mode in front of the test
// server, started for one test: each database it makes is the test's own
// (PgBouncer passes no search_path, so a schema would not do).
type Bouncer struct {
	base string
	port int
	// prepared: the bouncer keeps the clients' prepared statements
	// (PgBouncer 1.21 and later, max_prepared_statements), so its URLs
	// use pgx's default mode; else they use exec mode.
	prepared bool
}

// NewBouncer starts Debian's PgBouncer for t, whatever its version, with
// no prepared statement kept past its round trip (as 1.18 in Debian 12
// must). Without PgBouncer the test skips, except under CI=true, where it
// fails.
func NewBouncer(t testing.TB, poolSize int) *Bouncer {
	t.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/pgbouncer"); serr == nil {
			bin = "/usr/sbin/pgbouncer"
		} else if os.Getenv("CI") == "true" {
			t.Fatal("pgbouncer is not installed, and CI=true: the pooler tests must run (apt-get install pgbouncer)")
		} else {
			t.Skip("pgbouncer is not installed")
		}
	}
	return startBouncer(t, bin, poolSize, false)
}

// What a PgBouncer that keeps prepared statements is given beyond
// transaction pooling, and what its database is given once (for a
// database named by %s): README, Behind PgBouncer, shows both as the
// tests run them.
const (
	PreparingConfig = "max_prepared_statements = 200"
	PlanOnce        = "ALTER DATABASE %s SET plan_cache_mode = force_generic_plan;"
)

// PreparingVersion is the first PgBouncer that keeps the clients'
// prepared statements in transaction pooling mode.
const PreparingVersion = "1.21"

// NewPreparingBouncer starts a PgBouncer that keeps prepared statements
// (max_prepared_statements): KELISIM_TEST_PGBOUNCER names its binary, or
// the one on PATH when it is recent enough. The databases it makes plan
// each statement once (plan_cache_mode, set on the database as README
// says to). Without one the test skips, except under CI=true.
func NewPreparingBouncer(t testing.TB, poolSize int) *Bouncer {
	t.Helper()
	bin := os.Getenv("KELISIM_TEST_PGBOUNCER")
	if bin == "" {
		bin, _ = exec.LookPath("pgbouncer")
	}
	if bin != "" {
		if v := bouncerVersion(bin); versionBefore(v, PreparingVersion) {
			bin = ""
		}
	}
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no PgBouncer " + PreparingVersion + " or later, and CI=true: set KELISIM_TEST_PGBOUNCER (.ci/run builds Debian's)")
		}
		t.Skip("no PgBouncer " + PreparingVersion + " or later (KELISIM_TEST_PGBOUNCER)")
	}
	return startBouncer(t, bin, poolSize, true)
}

// bouncerVersion is what bin --version says: "1.24.1" of "PgBouncer 1.24.1".
func bouncerVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(string(out), "\n")
	_, v, _ := strings.Cut(strings.TrimSpace(first), " ")
	return v
}

// versionBefore reports whether dotted version v is before first (an
// unreadable one is).
func versionBefore(v, first string) bool {
	a, b := strings.Split(v, "."), strings.Split(first, ".")
	for i := range b {
		if i >= len(a) {
			return true
		}
		x, err := strconv.Atoi(a[i])
		if err != nil {
			return true
		}
		y, _ := strconv.Atoi(b[i])
		if x != y {
			return x < y
		}
	}
	return false
}

func startBouncer(t testing.TB, bin string, poolSize int, prepared bool) *Bouncer {
	t.Helper()
	URL(t) // skips, or fails under CI, without a server
	base := os.Getenv("KELISIM_TEST_DATABASE_URL")
	u, _ := url.Parse(base)
	// PgBouncer will not run as root: it drops to postgres, who must read
	// its files.
	dir, err := os.MkdirTemp("", "kelisim-pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%s
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
admin_users = %s
pool_mode = transaction
default_pool_size = %d
max_client_conn = 500
server_reset_query =
ignore_startup_parameters = extra_float_digits
`, u.Hostname(), u.Port(), port, filepath.Join(dir, "users.txt"), u.User.Username(), poolSize)
	if prepared {
		ini += PreparingConfig + "\n"
	}
	users := fmt.Sprintf("%q \"\"\n", u.User.Username())
	for name, content := range map[string]string{"pgbouncer.ini": ini, "users.txt": users} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{filepath.Join(dir, "pgbouncer.ini")}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "postgres"}, args...)
	}
	cmd := exec.Command(bin, args...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	})
	b := &Bouncer{base: base, port: port, prepared: prepared}
	p := b.pooled("postgres")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		c, err := pgx.Connect(context.Background(), p)
		if err == nil {
			c.Close(context.Background())
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgbouncer did not answer: %v\n%s", err, out.String())
		}
	}
}

func (b *Bouncer) pooled(db string) string {
	u, _ := url.Parse(b.base)
	u.Host = fmt.Sprintf("127.0.0.1:%d", b.port)
	u.Path = "/" + db
	u.RawQuery = "sslmode=disable"
	if !b.prepared {
		// No prepared statement outlives its transaction.
		u.RawQuery += "&default_query_exec_mode=exec"
	}
	return u.String()
}

// PreparedOnServers is how many prepared statements the bouncer's server
// connections hold, by its admin console's SHOW SERVERS.
func (b *Bouncer) PreparedOnServers(t testing.TB) int {
	t.Helper()
	u, _ := url.Parse(b.pooled("pgbouncer"))
	u.RawQuery = "sslmode=disable&default_query_exec_mode=simple_protocol"
	ctx := context.Background()
	c, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, "SHOW SERVERS")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	col := -1
	for i, f := range rows.FieldDescriptions() {
		if f.Name == "prepared_statements" {
			col = i
		}
	}
	if col < 0 {
		t.Fatal("SHOW SERVERS has no prepared_statements column")
	}
	n := 0
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		k, err := strconv.Atoi(fmt.Sprint(vals[col]))
		if err != nil {
			t.Fatalf("SHOW SERVERS: prepared_statements %v", vals[col])
		}
		n += k
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// DB makes a fresh database, dropped when t ends, and returns its pooled
// and direct URLs.
func (b *Bouncer) DB(t testing.TB) (pooled, direct string) {
	t.Helper()
	r := make([]byte, 6)
	_, _ = rand.Read(r)
	name := "pgb_" + hex.EncodeToString(r)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, b.base)
	if err != nil {
		t.Fatal(err)
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name)
	admin.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c, err := pgx.Connect(ctx, b.base); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	u, _ := url.Parse(b.base)
	u.Path, u.RawQuery = "/"+name, "sslmode=disable"
	if b.prepared {
		c, err := pgx.Connect(ctx, b.base)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Exec(ctx, fmt.Sprintf(PlanOnce, name))
		c.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
	}
	return b.pooled(name), u.String()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
