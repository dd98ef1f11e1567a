package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// Config is the gateway's configuration, read from KELISIM_* variables.
type Config struct {
	Addr        string // KELISIM_ADDR
	Issuer      string // KELISIM_ISSUER
	DatabaseURL string // KELISIM_DATABASE_URL; empty: the embedded store
	AdminToken  string // KELISIM_ADMIN_TOKEN
	Secret      string // KELISIM_SECRET
	MetricsAddr string // KELISIM_METRICS_ADDR
	AdminAddr   string // KELISIM_ADMIN_ADDR; set: the admin API listens only there

	AccessTokenTTL  time.Duration // KELISIM_ACCESS_TOKEN_TTL
	RefreshTokenTTL time.Duration // KELISIM_REFRESH_TOKEN_TTL
	Migrate         bool          // KELISIM_MIGRATE: serve applies migrations at start
	DBMaxConns      int           // KELISIM_DB_MAX_CONNS
	AllowLoopback   bool          // KELISIM_ALLOW_LOOPBACK_URIS
	LogFormat       string        // KELISIM_LOG_FORMAT: json or text
	ShutdownTimeout time.Duration // KELISIM_SHUTDOWN_TIMEOUT
}

// Embedded reports whether the gateway runs on the in-memory store.
func (c Config) Embedded() bool { return c.DatabaseURL == "" }

// env documents every variable, for `kelisim help`.
var env = []struct{ name, doc string }{
	{"KELISIM_ADDR", "listen address of the gateway (default 127.0.0.1:8080)"},
	{"KELISIM_ISSUER", "public base URL, the OAuth issuer (default http:// + KELISIM_ADDR)"},
	{"KELISIM_DATABASE_URL", "PostgreSQL URL; unset runs the embedded in-memory store"},
	{"KELISIM_ADMIN_TOKEN", "bearer token of the admin API, at least 32 characters"},
	{"KELISIM_SECRET", "key material for HMAC and encryption at rest, at least 32 characters"},
	{"KELISIM_METRICS_ADDR", "listen address of /metrics and /debug/pprof (default 127.0.0.1:9090)"},
	{"KELISIM_ADMIN_ADDR", "optional separate listen address for /admin/v1"},
	{"KELISIM_ACCESS_TOKEN_TTL", "access token lifetime (default 10m)"},
	{"KELISIM_REFRESH_TOKEN_TTL", "refresh token lifetime (default 720h)"},
	{"KELISIM_MIGRATE", "serve applies migrations at start (default true)"},
	{"KELISIM_DB_MAX_CONNS", "PostgreSQL pool size (default 16)"},
	{"KELISIM_ALLOW_LOOPBACK_URIS", "admit plain-http loopback redirect and webhook URIs (default: true only when the issuer is loopback)"},
	{"KELISIM_LOG_FORMAT", "json or text (default text on the embedded store, json on PostgreSQL)"},
	{"KELISIM_SHUTDOWN_TIMEOUT", "how long SIGTERM waits for in-flight requests (default 20s)"},
}

// loadConfig reads and validates the configuration. Every wrong value gets
// its own line in the error.
func loadConfig(getenv func(string) string) (Config, error) {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	duration := func(name string, def, max time.Duration) time.Duration {
		s := get(name, "")
		if s == "" {
			return def
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 || d > max {
			bad(name, "%q is not a duration between 1s and %s (like 10m)", s, max)
			return def
		}
		return d
	}
	boolean := func(name string, def bool) bool {
		s := get(name, "")
		if s == "" {
			return def
		}
		b, err := strconv.ParseBool(s)
		if err != nil {
			bad(name, "%q is not true or false", s)
			return def
		}
		return b
	}

	c := Config{
		Addr:        get("KELISIM_ADDR", "127.0.0.1:8080"),
		DatabaseURL: get("KELISIM_DATABASE_URL", ""),
		AdminToken:  get("KELISIM_ADMIN_TOKEN", ""),
		Secret:      get("KELISIM_SECRET", ""),
		MetricsAddr: get("KELISIM_METRICS_ADDR", "127.0.0.1:9090"),
		AdminAddr:   get("KELISIM_ADMIN_ADDR", ""),
	}
	c.Issuer = strings.TrimRight(get("KELISIM_ISSUER", "http://"+c.Addr), "/")
	c.AccessTokenTTL = duration("KELISIM_ACCESS_TOKEN_TTL", oauth.DefaultAccessTokenLifespan, time.Hour)
	c.RefreshTokenTTL = duration("KELISIM_REFRESH_TOKEN_TTL", oauth.DefaultRefreshTokenLifespan, 365*24*time.Hour)
	c.ShutdownTimeout = duration("KELISIM_SHUTDOWN_TIMEOUT", 20*time.Second, 10*time.Minute)
	c.Migrate = boolean("KELISIM_MIGRATE", true)

	for _, a := range []struct{ name, addr string }{{"KELISIM_ADDR", c.Addr}, {"KELISIM_METRICS_ADDR", c.MetricsAddr}, {"KELISIM_ADMIN_ADDR", c.AdminAddr}} {
		if a.addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(a.addr); err != nil || port == "" {
			bad(a.name, "%q is not host:port", a.addr)
		}
	}
	issuerLoopback := false
	if u, err := url.Parse(c.Issuer); err != nil || !u.IsAbs() || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		bad("KELISIM_ISSUER", "%q is not an absolute URL without query or fragment", c.Issuer)
	} else {
		issuerLoopback = partners.IsLoopback(u.Hostname())
		switch {
		case u.Scheme == "https":
		case u.Scheme == "http" && issuerLoopback:
		default:
			bad("KELISIM_ISSUER", "%q must use https (plain http only on a loopback host, for development)", c.Issuer)
		}
	}
	c.AllowLoopback = boolean("KELISIM_ALLOW_LOOPBACK_URIS", issuerLoopback)

	c.DBMaxConns = 16
	if s := get("KELISIM_DB_MAX_CONNS", ""); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 2 || n > 1000 {
			bad("KELISIM_DB_MAX_CONNS", "%q is not a whole number from 2 to 1000", s)
		} else {
			c.DBMaxConns = n
		}
	}
	c.LogFormat = get("KELISIM_LOG_FORMAT", map[bool]string{true: "text", false: "json"}[c.Embedded()])
	if c.LogFormat != "json" && c.LogFormat != "text" {
		bad("KELISIM_LOG_FORMAT", "%q is not json or text", c.LogFormat)
	}
	if c.Secret != "" && len(c.Secret) < oauth.MinSecretLen {
		bad("KELISIM_SECRET", "is %d characters; at least %d are needed", len(c.Secret), oauth.MinSecretLen)
	}
	if c.AdminToken != "" && len(c.AdminToken) < 32 {
		bad("KELISIM_ADMIN_TOKEN", "is %d characters; at least 32 are needed", len(c.AdminToken))
	}
	if !c.Embedded() {
		if c.Secret == "" {
			bad("KELISIM_SECRET", "is required with KELISIM_DATABASE_URL (generate one: openssl rand -base64 48)")
		}
		if c.AdminToken == "" {
			bad("KELISIM_ADMIN_TOKEN", "is required with KELISIM_DATABASE_URL (generate one: openssl rand -base64 48)")
		}
	}
	return c, errors.Join(errs...)
}
