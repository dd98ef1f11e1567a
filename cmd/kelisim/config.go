package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/adapters/registry"
	"github.com/kelisim/kelisim/adapters/telemetry"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// Config is the gateway's configuration, read from KELISIM_* variables.
type Config struct {
	Addr        string // KELISIM_ADDR
	Issuer      string // KELISIM_ISSUER
	DatabaseURL string // KELISIM_DATABASE_URL; empty: the embedded store
	// DirectURL (KELISIM_DATABASE_DIRECT_URL) reaches PostgreSQL past a
	// pooler in transaction mode, for LISTEN and migrations.
	DirectURL   string
	AdminToken  string // KELISIM_ADMIN_TOKEN
	Secret      string // KELISIM_SECRET
	MetricsAddr string // KELISIM_METRICS_ADDR
	AdminAddr   string // KELISIM_ADMIN_ADDR; set: the admin API listens only there

	AccessTokenTTL  time.Duration // KELISIM_ACCESS_TOKEN_TTL
	RefreshTokenTTL time.Duration // KELISIM_REFRESH_TOKEN_TTL
	Migrate         bool          // KELISIM_MIGRATE: serve applies migrations at start
	DBMaxConns      int           // KELISIM_DB_MAX_CONNS
	DBTimeout       time.Duration // KELISIM_DB_TIMEOUT: of each call to PostgreSQL
	AllowLoopback   bool          // KELISIM_ALLOW_LOOPBACK_URIS
	DPoPNonce       bool          // KELISIM_DPOP_NONCE
	DefaultProfile  string        // KELISIM_DEFAULT_PROFILE
	LogFormat       string        // KELISIM_LOG_FORMAT: json or text
	ShutdownTimeout time.Duration // KELISIM_SHUTDOWN_TIMEOUT
	DrainTimeout    time.Duration // KELISIM_DRAIN_TIMEOUT: /readyz fails this long before the listener closes
	TrustedProxies  []string      // KELISIM_TRUSTED_PROXIES

	SMS      string // KELISIM_SMS: console or http
	SMSURL   string // KELISIM_SMS_URL
	SMSToken string // KELISIM_SMS_TOKEN
	// KELISIM_PUSH_URL, KELISIM_PUSH_TOKEN: the citizens' app's push
	// service; unset, app notices are printed (development).
	PushURL, PushToken string
	PushAudience       string // KELISIM_PUSH_AUDIENCE: the app's client id, for the citizen's subject
	Registry           string // KELISIM_REGISTRY: demo or http
	RegistryURL        string // KELISIM_REGISTRY_URL
	RegistryTLS        struct{ Cert, Key, CA string }
	RegistryTimeout    time.Duration
	// TrustList is the file of the issuing authorities' keys
	// (KELISIM_TRUST_LIST); empty with the demo registry: its authorities.
	TrustList string
	// KELISIM_SIGNATURE_CA, _CRL, _CRL_EVERY: log-in and consent by
	// digital signature; unset CA: not offered.
	SignatureCA       string
	SignatureCRLs     []string
	SignatureCRLEvery time.Duration

	TermsVersion string        // KELISIM_TERMS_VERSION
	Terms        consent.Terms // its text: shipped, or KELISIM_TERMS_FILE
	// Types are the document types: shipped, and KELISIM_DOCUMENT_TYPES_FILE's.
	Types        *consent.Catalogue
	GrantDays    int // KELISIM_GRANT_DAYS: when the partner asks no duration
	MaxGrantDays int // KELISIM_MAX_GRANT_DAYS: the operator's cap
	OTP          consent.OTPConfig

	DocumentTTL      time.Duration // KELISIM_DOCUMENT_TTL: exp of a signed document
	DeliveryBackoff  time.Duration // KELISIM_DELIVERY_BACKOFF: first retry delay
	DeliveryAttempts int           // KELISIM_DELIVERY_MAX_ATTEMPTS: before a dead letter
	DeliveryLease    time.Duration // KELISIM_DELIVERY_LEASE
	DeliveryParallel int           // KELISIM_DELIVERY_PARALLEL: entries of different grants sent at once
	WebhookTimeout   time.Duration // KELISIM_WEBHOOK_TIMEOUT

	UpkeepEvery time.Duration // KELISIM_UPKEEP_EVERY: expiry and purge rounds
	// KELISIM_CHECKPOINT_EVERY: how often the history is sealed and a
	// head published; KELISIM_HISTORY_SETTLE: how old an event must be.
	CheckpointEvery, HistorySettle time.Duration
	// KELISIM_DELETION_DEADLINE: how long a partner has to confirm it
	// deleted what it received once a grant ends.
	DeletionDeadline time.Duration
	OTPRetention     time.Duration // KELISIM_OTP_RETENTION: how long spent OTP records are kept
	HistoryRetention time.Duration // KELISIM_HISTORY_RETENTION: how long the history and the audit log are kept

	VerifyWrongLimit       int // KELISIM_VERIFY_WRONG_LIMIT: wrong share codes a verifier may try per minute
	VerifyGlobalWrongLimit int // KELISIM_VERIFY_GLOBAL_WRONG_LIMIT: wrong short codes all verifiers may try per minute

	AuthorizeIPLimit int // KELISIM_AUTHORIZE_IP_LIMIT: authorization requests one address may leave waiting

	SyntheticCitizens int        // KELISIM_SYNTHETIC_CITIZENS: extra demo citizens for load tests
	LogLevel          slog.Level // KELISIM_LOG_LEVEL

	// Traces: OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
	// and OTEL_SERVICE_NAME, as OpenTelemetry names them.
	Traces telemetry.Config
}

// Embedded reports whether the gateway runs on the in-memory store.
func (c Config) Embedded() bool { return c.DatabaseURL == "" }

// env documents every variable, for `kelisim help`.
var env = []struct{ name, doc string }{
	{"KELISIM_ADDR", "listen address of the gateway (default 127.0.0.1:8080)"},
	{"KELISIM_ISSUER", "public base URL, the OAuth issuer (default http:// + KELISIM_ADDR)"},
	{"KELISIM_DATABASE_URL", "PostgreSQL URL; unset runs the embedded in-memory store"},
	{"KELISIM_DATABASE_DIRECT_URL", "PostgreSQL itself when KELISIM_DATABASE_URL is a pooler in transaction mode (PgBouncer): the partner listener's LISTEN and migrations use it"},
	{"KELISIM_ADMIN_TOKEN", "bearer token of the admin API, at least 32 characters"},
	{"KELISIM_SECRET", "key material for HMAC and encryption at rest, at least 32 characters"},
	{"KELISIM_METRICS_ADDR", "listen address of /metrics and /debug/pprof (default 127.0.0.1:9090)"},
	{"KELISIM_ADMIN_ADDR", "optional separate listen address for /admin/v1"},
	{"KELISIM_ACCESS_TOKEN_TTL", "access token lifetime (default 10m)"},
	{"KELISIM_REFRESH_TOKEN_TTL", "refresh token lifetime (default 720h)"},
	{"KELISIM_MIGRATE", "serve applies migrations at start (default true)"},
	{"KELISIM_DB_MAX_CONNS", "PostgreSQL pool size (default 16)"},
	{"KELISIM_DB_TIMEOUT", "deadline of each call to PostgreSQL; past it the request answers 503 (default 5s)"},
	{"KELISIM_DEFAULT_PROFILE", "security profile of partners onboarded without one: baseline or fapi2 (default baseline)"},
	{"KELISIM_DPOP_NONCE", "DPoP proofs must carry the server's nonce, from the DPoP-Nonce header (default true)"},
	{"KELISIM_ALLOW_LOOPBACK_URIS", "admit plain-http loopback redirect and webhook URIs (default: true only when the issuer is loopback)"},
	{"KELISIM_LOG_FORMAT", "json or text (default text on the embedded store, json on PostgreSQL)"},
	{"KELISIM_SHUTDOWN_TIMEOUT", "how long SIGTERM waits for in-flight requests (default 20s)"},
	{"KELISIM_DRAIN_TIMEOUT", "after SIGTERM, how long /readyz fails while requests are still served, before the listener closes (default 10s with a database, 0 on the embedded store)"},
	{"KELISIM_TRUSTED_PROXIES", "comma-separated proxy IPs/CIDRs whose X-Forwarded-For is believed (default none)"},
	{"KELISIM_SMS", "console (prints codes to stderr; development) or http (default console on the embedded store; required with a database)"},
	{"KELISIM_SMS_URL", "SMS provider endpoint for KELISIM_SMS=http"},
	{"KELISIM_SMS_TOKEN", "bearer token sent to the SMS provider"},
	{"KELISIM_PUSH_URL", "push service of the citizens' mobile app, for notifications by app; unset prints them to stderr (development)"},
	{"KELISIM_PUSH_TOKEN", "bearer token sent to the push service"},
	{"KELISIM_PUSH_AUDIENCE", "client id of the citizens' mobile app: a notice names the citizen by their pairwise subject at it (default kelisim-app)"},
	{"KELISIM_REGISTRY", "citizen registry: demo (embedded data file) or http (default demo)"},
	{"KELISIM_REGISTRY_URL", "base URL of the HTTP citizen registry"},
	{"KELISIM_REGISTRY_CERT", "client certificate (PEM) for the HTTP registry"},
	{"KELISIM_REGISTRY_KEY", "client key (PEM) for the HTTP registry"},
	{"KELISIM_REGISTRY_CA", "CA (PEM) of the HTTP registry's server certificate"},
	{"KELISIM_REGISTRY_TIMEOUT", "timeout of one registry call (default 5s)"},
	{"KELISIM_TERMS_VERSION", "version of the terms consents are given under (default 2026-11-01)"},
	{"KELISIM_DOCUMENT_TYPES_FILE", "document types to add to the shipped ones, or to reword: JSON with each type's names in kk/ru/en, its fields' labels and its display form (see README)"},
	{"KELISIM_TRUST_LIST", "the issuing authorities whose document signatures the gateway trusts: JSON, one JWKS per authority, re-read when it changes (required with KELISIM_REGISTRY=http; the demo registry's own otherwise)"},
	{"KELISIM_SIGNATURE_CA", "PEM file of the CA certificates whose citizens' certificates may log in and consent by digital signature; unset: only SMS codes"},
	{"KELISIM_SIGNATURE_CRL", "comma-separated files or http(s) URLs of those CAs' revocation lists, checked on every signature"},
	{"KELISIM_SIGNATURE_CRL_EVERY", "how often the revocation lists are read again (default 1h)"},
	{"KELISIM_TERMS_FILE", "the text of KELISIM_TERMS_VERSION, whose digest every consent receipt carries (needed unless the version's text ships with the gateway)"},
	{"KELISIM_GRANT_DAYS", "grant duration when the partner asks none (default 90)"},
	{"KELISIM_MAX_GRANT_DAYS", "the longest grant a partner may ask (default 365)"},
	{"KELISIM_OTP_TTL", "how long an SMS code works (default 5m)"},
	{"KELISIM_OTP_PHONE_LIMIT", "codes per IIN and phone from one client address per hour, consent and log-in each (default 5)"},
	{"KELISIM_OTP_PHONE_TOTAL_LIMIT", "codes per IIN and phone from all addresses per hour, consent and log-in each; above KELISIM_OTP_PHONE_LIMIT, so one address never uses it up (default 15)"},
	{"KELISIM_OTP_IP_LIMIT", "codes per client address per hour (default 30)"},
	{"KELISIM_DOCUMENT_TTL", "lifetime (exp) of a signed document (default 5m)"},
	{"KELISIM_DELIVERY_BACKOFF", "first retry delay of a push delivery; doubles each try (default 2s)"},
	{"KELISIM_DELIVERY_MAX_ATTEMPTS", "tries before a push delivery is dead-lettered (default 8)"},
	{"KELISIM_DELIVERY_LEASE", "how long a replica holds a delivery it is sending (default 1m)"},
	{"KELISIM_DELIVERY_PARALLEL", "push deliveries and notices of different grants a replica sends at once; one grant's go in turn (default 8)"},
	{"KELISIM_WEBHOOK_TIMEOUT", "timeout of one webhook POST (default 10s)"},
	{"KELISIM_UPKEEP_EVERY", "how often grants are expired and old records purged (default 1m)"},
	{"KELISIM_CHECKPOINT_EVERY", "how often the history is sealed into its log and a signed head published at /history/checkpoints (default 1m)"},
	{"KELISIM_DELETION_DEADLINE", "how long a partner has to confirm deletion once a grant ends before it shows as overdue (default 720h)"},
	{"KELISIM_HISTORY_SETTLE", "how old a history event must be before it is sealed, so one committed late is not passed over (default 5s)"},
	{"KELISIM_OTP_RETENTION", "how long OTP records are kept after they expire, for disputes (default 720h)"},
	{"KELISIM_HISTORY_RETENTION", "how long the access history and the operators' audit log are kept; whole months are dropped after it (default 43800h, 5 years; at least a year, and 31 days longer than KELISIM_MAX_GRANT_DAYS)"},
	{"KELISIM_VERIFY_WRONG_LIMIT", "wrong share codes a verifier may try per minute (default 10)"},
	{"KELISIM_VERIFY_GLOBAL_WRONG_LIMIT", "wrong short codes all verifiers together may try per minute (default 60)"},
	{"KELISIM_AUTHORIZE_IP_LIMIT", "authorization requests one client address may leave waiting for citizens, per 15 minutes (default 300)"},
	{"KELISIM_SYNTHETIC_CITIZENS", "add this many synthetic citizens to the demo registry, for load tests (default 0)"},
	{"KELISIM_LOG_LEVEL", "debug, info, warn or error (default info)"},
	{"OTEL_EXPORTER_OTLP_ENDPOINT", "an OpenTelemetry collector's base URL: traces of requests, statements and outgoing calls go to its /v1/traces over OTLP/HTTP (protobuf); unset: no traces"},
	{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "the whole URL traces go to, in place of the one above"},
	{"OTEL_SERVICE_NAME", "the service name on the traces (default kelisim)"},
}

// commandConfig is what the operator's one-shot commands read: the
// database (they run on PostgreSQL only) and, when withSecret, the secret
// that seals signing keys. Nothing else is asked of them, so a migration
// job carries only the database URL.
func commandConfig(getenv func(string) string, withSecret bool) (Config, error) {
	var errs []error
	c := Config{DatabaseURL: strings.TrimSpace(getenv("KELISIM_DATABASE_URL")), Secret: strings.TrimSpace(getenv("KELISIM_SECRET")),
		DirectURL: strings.TrimSpace(getenv("KELISIM_DATABASE_DIRECT_URL"))}
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("KELISIM_DATABASE_URL: is required: this command works on PostgreSQL (the embedded store lives in one process)"))
	}
	if withSecret {
		switch {
		case c.Secret == "":
			errs = append(errs, errors.New("KELISIM_SECRET: is required: it seals the signing keys"))
		case len(c.Secret) < oauth.MinSecretLen:
			errs = append(errs, fmt.Errorf("KELISIM_SECRET: is %d characters; at least %d are needed", len(c.Secret), oauth.MinSecretLen))
		}
	}
	return c, errors.Join(errs...)
}

// loadConfig reads and validates the configuration of serve. Every wrong
// value gets its own line in the error.
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
	duration := func(name string, def, most time.Duration) time.Duration {
		s := get(name, "")
		if s == "" {
			return def
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 || d > most {
			bad(name, "%q is not a duration between 1s and %s (like 10m)", s, most)
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
		DirectURL:   get("KELISIM_DATABASE_DIRECT_URL", ""),
		AdminToken:  get("KELISIM_ADMIN_TOKEN", ""),
		Secret:      get("KELISIM_SECRET", ""),
		MetricsAddr: get("KELISIM_METRICS_ADDR", "127.0.0.1:9090"),
		AdminAddr:   get("KELISIM_ADMIN_ADDR", ""),
	}
	c.Issuer = strings.TrimRight(get("KELISIM_ISSUER", "http://"+c.Addr), "/")
	c.AccessTokenTTL = duration("KELISIM_ACCESS_TOKEN_TTL", oauth.DefaultAccessTokenLifespan, time.Hour)
	c.RefreshTokenTTL = duration("KELISIM_REFRESH_TOKEN_TTL", oauth.DefaultRefreshTokenLifespan, 365*24*time.Hour)
	c.ShutdownTimeout = duration("KELISIM_SHUTDOWN_TIMEOUT", 20*time.Second, 10*time.Minute)
	c.DBTimeout = duration("KELISIM_DB_TIMEOUT", 5*time.Second, time.Minute)
	c.DrainTimeout = map[bool]time.Duration{true: 0, false: 10 * time.Second}[c.Embedded()]
	if s := get("KELISIM_DRAIN_TIMEOUT", ""); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > 5*time.Minute {
			bad("KELISIM_DRAIN_TIMEOUT", "%q is not a duration from 0s to 5m (like 10s)", s)
		} else {
			c.DrainTimeout = d
		}
	}
	c.Migrate = boolean("KELISIM_MIGRATE", true)
	c.DPoPNonce = boolean("KELISIM_DPOP_NONCE", true)
	c.DefaultProfile = get("KELISIM_DEFAULT_PROFILE", "")
	if c.DefaultProfile != "" && c.DefaultProfile != partners.ProfileFAPI2 && c.DefaultProfile != partners.ProfileBaseline {
		bad("KELISIM_DEFAULT_PROFILE", "%q is not %q or %q", c.DefaultProfile, partners.ProfileBaseline, partners.ProfileFAPI2)
	}
	integer := func(name string, def, lo, hi int) int {
		s := get(name, "")
		if s == "" {
			return def
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			bad(name, "%q is not a whole number from %d to %d", s, lo, hi)
			return def
		}
		return n
	}
	if s := get("KELISIM_TRUSTED_PROXIES", ""); s != "" {
		for _, p := range strings.Split(s, ",") {
			p = strings.TrimSpace(p)
			if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
				bad("KELISIM_TRUSTED_PROXIES", "%q is not an IP or CIDR", p)
			}
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
	}
	c.TermsVersion = get("KELISIM_TERMS_VERSION", consent.DefaultTermsVersion)
	typesFile := get("KELISIM_DOCUMENT_TYPES_FILE", "")
	var err error
	if typesFile == "" {
		c.Types, err = consent.ShippedCatalogue()
	} else {
		c.Types, err = consent.NewCatalogue(os.DirFS(filepath.Dir(typesFile)), filepath.Base(typesFile))
	}
	if err == nil {
		err = httpapi.CheckForms(c.Types)
	}
	if err != nil {
		bad("KELISIM_DOCUMENT_TYPES_FILE", "%v", err)
	}
	if path := get("KELISIM_TERMS_FILE", ""); path != "" {
		text, err := os.ReadFile(path)
		if err != nil || len(bytes.TrimSpace(text)) == 0 {
			bad("KELISIM_TERMS_FILE", "cannot read a text of the terms from %q", path)
		}
		c.Terms = consent.Terms{Version: c.TermsVersion, Text: text}
	} else if t, err := consent.ShippedTerms(c.TermsVersion); err == nil {
		c.Terms = t
	} else {
		bad("KELISIM_TERMS_FILE", "%v", err)
	}
	c.MaxGrantDays = integer("KELISIM_MAX_GRANT_DAYS", 365, 1, 3650)
	c.GrantDays = integer("KELISIM_GRANT_DAYS", min(90, c.MaxGrantDays), 1, c.MaxGrantDays)
	c.OTP = consent.DefaultOTPConfig
	c.OTP.TTL = duration("KELISIM_OTP_TTL", c.OTP.TTL, 30*time.Minute)
	c.OTP.PhoneLimit = integer("KELISIM_OTP_PHONE_LIMIT", c.OTP.PhoneLimit, 1, 1_000_000)
	c.OTP.IPLimit = integer("KELISIM_OTP_IP_LIMIT", c.OTP.IPLimit, 1, 1_000_000)
	c.OTP.PhoneTotalLimit = integer("KELISIM_OTP_PHONE_TOTAL_LIMIT", max(c.OTP.PhoneTotalLimit, 3*c.OTP.PhoneLimit), 2, 1_000_000)
	if c.OTP.PhoneTotalLimit <= c.OTP.PhoneLimit {
		bad("KELISIM_OTP_PHONE_TOTAL_LIMIT", "must be above KELISIM_OTP_PHONE_LIMIT (%d): else one address can use up a phone's codes", c.OTP.PhoneLimit)
	}

	c.DocumentTTL = duration("KELISIM_DOCUMENT_TTL", 5*time.Minute, time.Hour)
	c.DeliveryBackoff = duration("KELISIM_DELIVERY_BACKOFF", 2*time.Second, time.Hour)
	c.DeliveryAttempts = integer("KELISIM_DELIVERY_MAX_ATTEMPTS", 8, 1, 100)
	c.DeliveryLease = duration("KELISIM_DELIVERY_LEASE", time.Minute, time.Hour)
	c.DeliveryParallel = integer("KELISIM_DELIVERY_PARALLEL", consent.DefaultOutboxParallel, 1, 64)
	c.WebhookTimeout = duration("KELISIM_WEBHOOK_TIMEOUT", 10*time.Second, 5*time.Minute)
	c.UpkeepEvery = duration("KELISIM_UPKEEP_EVERY", time.Minute, 24*time.Hour)
	c.CheckpointEvery = duration("KELISIM_CHECKPOINT_EVERY", time.Minute, 24*time.Hour)
	c.HistorySettle = duration("KELISIM_HISTORY_SETTLE", 5*time.Second, 10*time.Minute)
	c.DeletionDeadline = duration("KELISIM_DELETION_DEADLINE", 30*24*time.Hour, 365*24*time.Hour)
	c.SyntheticCitizens = integer("KELISIM_SYNTHETIC_CITIZENS", 0, 0, 1_000_000)
	if err := c.LogLevel.UnmarshalText([]byte(get("KELISIM_LOG_LEVEL", "info"))); err != nil {
		bad("KELISIM_LOG_LEVEL", "%q is not debug, info, warn or error", get("KELISIM_LOG_LEVEL", ""))
	}
	c.Traces = telemetry.Config{Endpoint: get("OTEL_EXPORTER_OTLP_ENDPOINT", ""), TracesEndpoint: get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""),
		Service: get("OTEL_SERVICE_NAME", ""), Version: version}
	for _, e := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		if v := get(e, ""); v != "" {
			if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad(e, "%q is not an http(s) URL", v)
			}
		}
	}
	c.VerifyWrongLimit = integer("KELISIM_VERIFY_WRONG_LIMIT", 10, 1, 10_000)
	c.VerifyGlobalWrongLimit = integer("KELISIM_VERIFY_GLOBAL_WRONG_LIMIT", 60, 1, 100_000)
	c.AuthorizeIPLimit = integer("KELISIM_AUTHORIZE_IP_LIMIT", 300, 1, 1_000_000)
	c.OTPRetention = duration("KELISIM_OTP_RETENTION", 30*24*time.Hour, 5*365*24*time.Hour)
	c.HistoryRetention = duration("KELISIM_HISTORY_RETENTION", 5*365*24*time.Hour, 50*365*24*time.Hour)
	// A grant's consent and its receipts outlive it: a month is dropped
	// only when every grant it saw given has ended, a month ago or more.
	if least := time.Duration(max(365, c.MaxGrantDays+31)) * 24 * time.Hour; c.HistoryRetention < least {
		bad("KELISIM_HISTORY_RETENTION", "%s is less than %s: the history is kept a year at least, and 31 days longer than the longest grant (KELISIM_MAX_GRANT_DAYS)",
			c.HistoryRetention, least)
	}
	// A post may last half a lease, so it ends within the lease even with
	// the replicas' clocks somewhat apart.
	if c.DeliveryLease < 2*c.WebhookTimeout {
		bad("KELISIM_DELIVERY_LEASE", "must be at least twice KELISIM_WEBHOOK_TIMEOUT (%s): a post ends within half a lease", c.WebhookTimeout)
	}

	c.SMS = get("KELISIM_SMS", map[bool]string{true: "console", false: ""}[c.DatabaseURL == ""])
	c.SMSURL, c.SMSToken = get("KELISIM_SMS_URL", ""), get("KELISIM_SMS_TOKEN", "")
	switch c.SMS {
	case "console":
	case "http":
		if u, err := url.Parse(c.SMSURL); err != nil || !u.IsAbs() {
			bad("KELISIM_SMS_URL", "%q is not an absolute URL (needed by KELISIM_SMS=http)", c.SMSURL)
		}
	case "":
		bad("KELISIM_SMS", "is required with KELISIM_DATABASE_URL: http for a provider, or console to print codes (development only)")
	default:
		bad("KELISIM_SMS", "%q is not console or http", c.SMS)
	}
	c.PushURL, c.PushToken, c.PushAudience = get("KELISIM_PUSH_URL", ""), get("KELISIM_PUSH_TOKEN", ""), get("KELISIM_PUSH_AUDIENCE", "kelisim-app")
	if u, err := url.Parse(c.PushURL); c.PushURL != "" && (err != nil || !u.IsAbs()) {
		bad("KELISIM_PUSH_URL", "%q is not an absolute URL", c.PushURL)
	}
	c.SignatureCA = get("KELISIM_SIGNATURE_CA", "")
	for _, s := range strings.Split(get("KELISIM_SIGNATURE_CRL", ""), ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.SignatureCRLs = append(c.SignatureCRLs, s)
		}
	}
	c.SignatureCRLEvery = duration("KELISIM_SIGNATURE_CRL_EVERY", time.Hour, 24*time.Hour)
	if c.SignatureCA == "" && len(c.SignatureCRLs) > 0 {
		bad("KELISIM_SIGNATURE_CRL", "is set without KELISIM_SIGNATURE_CA")
	}
	if c.SignatureCA != "" && len(c.SignatureCRLs) == 0 {
		bad("KELISIM_SIGNATURE_CRL", "is required with KELISIM_SIGNATURE_CA: the revocation list of each CA, or no certificate can be known good")
	}
	if c.SignatureCA != "" {
		if _, err := os.Stat(c.SignatureCA); err != nil {
			bad("KELISIM_SIGNATURE_CA", "%v", err)
		}
	}
	c.Registry = get("KELISIM_REGISTRY", "demo")
	c.TrustList = get("KELISIM_TRUST_LIST", "")
	if c.TrustList != "" {
		if _, err := registry.NewTrustList(c.TrustList); err != nil {
			bad("KELISIM_TRUST_LIST", "%v", err)
		}
	} else if c.Registry == "http" {
		bad("KELISIM_TRUST_LIST", "is required with KELISIM_REGISTRY=http: the authorities whose signatures documents must carry")
	}
	c.RegistryURL = get("KELISIM_REGISTRY_URL", "")
	c.RegistryTLS.Cert, c.RegistryTLS.Key, c.RegistryTLS.CA = get("KELISIM_REGISTRY_CERT", ""), get("KELISIM_REGISTRY_KEY", ""), get("KELISIM_REGISTRY_CA", "")
	c.RegistryTimeout = duration("KELISIM_REGISTRY_TIMEOUT", 5*time.Second, time.Minute)
	switch c.Registry {
	case "demo":
	case "http":
		if u, err := url.Parse(c.RegistryURL); err != nil || !u.IsAbs() {
			bad("KELISIM_REGISTRY_URL", "%q is not an absolute URL (needed by KELISIM_REGISTRY=http)", c.RegistryURL)
		}
		if (c.RegistryTLS.Cert == "") != (c.RegistryTLS.Key == "") {
			bad("KELISIM_REGISTRY_CERT", "give both KELISIM_REGISTRY_CERT and KELISIM_REGISTRY_KEY, or neither")
		}
	default:
		bad("KELISIM_REGISTRY", "%q is not demo or http", c.Registry)
	}

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
