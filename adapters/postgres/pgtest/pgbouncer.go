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
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Bouncer is Debian's PgBouncer in transaction pooling mode in front of
// the test server, started for one test: each database it makes is the
// test's own (PgBouncer passes no search_path, so a schema would not do).
type Bouncer struct {
	base string
	port int
}

// PgBouncer starts a bouncer with poolSize server connections per
// database, and returns a pooled and a direct URL of a fresh database.
func PgBouncer(t testing.TB, poolSize int) (pooled, direct string) {
	t.Helper()
	return NewBouncer(t, poolSize).DB(t)
}

// NewBouncer starts PgBouncer for t. Without PgBouncer the test skips,
// except under CI=true, where it fails.
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
pool_mode = transaction
default_pool_size = %d
max_client_conn = 500
server_reset_query =
ignore_startup_parameters = extra_float_digits
`, u.Hostname(), u.Port(), port, filepath.Join(dir, "users.txt"), poolSize)
	for name, content := range map[string]string{"pgbouncer.ini": ini, "users.txt": `"postgres" ""` + "\n"} {
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
	b := &Bouncer{base: base, port: port}
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
	// PgBouncer 1.18 keeps no prepared statement between transactions.
	u.RawQuery = "sslmode=disable&default_query_exec_mode=exec"
	return u.String()
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
