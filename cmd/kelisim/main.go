// Command kelisim is the Kelisim consent gateway.
//
//	kelisim serve     run the gateway
//	kelisim migrate   apply the PostgreSQL migrations
//	kelisim version   print the version
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/adapters/logos"
	"github.com/kelisim/kelisim/adapters/memory"
	"github.com/kelisim/kelisim/adapters/notify"
	"github.com/kelisim/kelisim/adapters/postgres"
	"github.com/kelisim/kelisim/adapters/registry"
	"github.com/kelisim/kelisim/adapters/signature"
	"github.com/kelisim/kelisim/adapters/sms"
	"github.com/kelisim/kelisim/adapters/storage"
	"github.com/kelisim/kelisim/adapters/telemetry"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "kelisim:", err)
		var exit exitError
		if errors.As(err, &exit) {
			os.Exit(exit.code)
		}
		os.Exit(1)
	}
}

// run is the whole program, so tests can run it as it runs in production.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "help"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
		cfg, err := loadConfig(getenv)
		if err != nil {
			return fmt.Errorf("configuration:\n%w", err)
		}
		gc := gcFor(getenv, containerMemoryLimit)
		applyGC(gc)
		return serve(ctx, cfg, gc, stdout, stderr)
	case "migrate":
		cfg, err := commandConfig(getenv, false)
		if err != nil {
			return fmt.Errorf("configuration:\n%w", err)
		}
		store, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{MaxConns: 2, DirectURL: cfg.DirectURL})
		if err != nil {
			return err
		}
		defer store.Close()
		if err := store.Migrate(ctx); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "migrations applied")
		return nil
	case "rotate-keys":
		cfg, err := commandConfig(getenv, true)
		if err != nil {
			return fmt.Errorf("configuration:\n%w", err)
		}
		store, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{MaxConns: 2, DirectURL: cfg.DirectURL})
		if err != nil {
			return err
		}
		defer store.Close()
		secrets, err := oauth.NewSecrets([]byte(cfg.Secret))
		if err != nil {
			return err
		}
		keys, err := oauth.NewKeys(ctx, store, secrets, time.Now)
		if err != nil {
			return err
		}
		kid, err := keys.Rotate(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "new signing key %s published; it signs from %s\n", kid, time.Now().Add(oauth.ActivateAfter).UTC().Format(time.RFC3339))
		return nil
	case "partners", "deliveries", "keys":
		return operatorCommand(ctx, cmd, args[1:], getenv, stdout)
	case "receipt":
		return receiptCommand(ctx, args[1:], stdout)
	case "history":
		return historyCommand(ctx, args[1:], stdout)
	case "version":
		fmt.Fprintln(stdout, "kelisim", versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: kelisim serve | migrate | rotate-keys | receipt verify FILE | history verify FILE | version")
		fmt.Fprintln(stdout, "\nthrough a running gateway's admin API:\n"+strings.TrimPrefix(operatorUsage, "usage:\n"))
		fmt.Fprintln(stdout, "\nconfiguration (environment):")
		for _, e := range env {
			fmt.Fprintf(stdout, "  %-28s %s\n", e.name, e.doc)
		}
		return nil
	default:
		return fmt.Errorf("unknown command %q (try: kelisim help)", cmd)
	}
}

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v += " " + s.Value
			}
		}
		v += " " + bi.GoVersion
	}
	return v
}

// serve runs the gateway until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, cfg Config, gc gcSettings, stdout, stderr io.Writer) error {
	var lc net.ListenConfig
	public, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return err
	}
	metrics, err := lc.Listen(ctx, "tcp", cfg.MetricsAddr)
	if err != nil {
		public.Close()
		return err
	}
	var adminLn net.Listener
	if cfg.AdminAddr != "" {
		if adminLn, err = lc.Listen(ctx, "tcp", cfg.AdminAddr); err != nil {
			public.Close()
			metrics.Close()
			return err
		}
	}
	g, err := newGateway(ctx, &cfg, wiring{consent: httpapi.ConsentRedirect{Secure: strings.HasPrefix(cfg.Issuer, "https://")}, now: time.Now, stdout: stdout, stderr: stderr})
	if err != nil {
		public.Close()
		metrics.Close()
		if adminLn != nil {
			adminLn.Close()
		}
		return err
	}
	defer g.close()
	limit := "none"
	if gc.Limit != math.MaxInt64 {
		limit = strconv.FormatInt(gc.Limit>>20, 10) + " MiB"
	}
	g.log.Info("garbage collector", "gogc", gc.Percent, "gogc_from", gc.PercentFrom, "memory_limit", limit, "memory_limit_from", gc.LimitFrom)
	return g.serve(ctx, public, metrics, adminLn)
}

// gateway is the wired application.
type gateway struct {
	cfg      Config
	draining atomic.Bool // set on SIGTERM: /readyz fails from then on
	log      *slog.Logger
	metrics  *httpapi.Metrics
	deps     httpapi.Deps
	keys     *oauth.Keys
	outbox   *consent.Outbox
	upkeep   *consent.Upkeep
	ledger   *consent.Ledger
	trust    *registry.TrustList
	sig      *signature.Checker // nil: signatures are not offered
	close    func()
}

// wiring is what production fixes and tests may replace.
type wiring struct {
	consent oauth.Consent    // how the authorization endpoint asks citizens
	now     func() time.Time // the clock
	stdout  io.Writer        // where a generated admin token is shown
	stderr  io.Writer        // logs, and the console SMS provider
}

// newGateway wires the gateway by hand. On the embedded store, a missing
// secret or admin token is generated; the admin token is printed once.
func newGateway(ctx context.Context, cfg *Config, w wiring) (*gateway, error) {
	stdout, stderr := w.stdout, w.stderr
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewJSONHandler(stderr, opts)
	if cfg.LogFormat == "text" {
		h = slog.NewTextHandler(stderr, opts)
	}
	log := slog.New(telemetry.LogHandler{Handler: httpapi.LogHandler{Handler: h}})
	metrics := httpapi.NewMetrics()
	now := w.now
	stopTraces, err := telemetry.Start(ctx, cfg.Traces)
	if err != nil {
		return nil, err
	}
	wired := false
	defer func() {
		if !wired {
			_ = stopTraces(context.Background())
		}
	}()

	var st storage.Store
	var clients oauth.PartnerGetter // partners as the OAuth server reads them
	closeStore := func() {}
	if cfg.Embedded() {
		log.Warn("NO DATABASE: running on the embedded in-memory store; nothing survives a restart and replicas cannot share it. Set KELISIM_DATABASE_URL for production.")
		if cfg.Secret == "" {
			cfg.Secret = randomToken()
		}
		if cfg.AdminToken == "" {
			cfg.AdminToken = randomToken()
			fmt.Fprintf(stdout, "Admin token for this run (shown once): %s\n", cfg.AdminToken)
		}
		st = memory.New()
		clients = st
	} else {
		pg, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{
			MaxConns: int32(cfg.DBMaxConns), Observe: metrics.StoreOperation, CachePartners: true, Timeout: cfg.DBTimeout,
			DirectURL: cfg.DirectURL, Log: log})
		if err != nil {
			return nil, err
		}
		if cfg.Migrate {
			if err := pg.Migrate(ctx); err != nil {
				pg.Close()
				return nil, err
			}
		}
		st, clients, closeStore = pg, pg.CachedPartners(), pg.Close
		metrics.WatchPartnerCache(pg.PartnerCacheState)
	}
	secrets, err := oauth.NewSecrets([]byte(cfg.Secret))
	if err != nil {
		closeStore()
		return nil, err
	}
	keys, err := oauth.NewKeys(ctx, st, secrets, now)
	if err != nil {
		closeStore()
		return nil, err
	}
	// The terms served now are kept for good, beside the shipped ones
	// earlier grants may have been given under; a version's text never
	// changes.
	if err := st.KeepTerms(ctx, cfg.Terms, now()); err != nil {
		closeStore()
		return nil, fmt.Errorf("KELISIM_TERMS_VERSION %s: %w", cfg.Terms.Version, err)
	}
	if shipped, err := consent.ShippedTerms(consent.DefaultTermsVersion); err == nil && shipped.Version != cfg.Terms.Version {
		if err := st.KeepTerms(ctx, shipped, now()); err != nil && !errors.Is(err, consent.ErrTermsRewritten) {
			closeStore()
			return nil, err
		}
	}
	citizens, err := newRegistry(cfg)
	if err != nil {
		closeStore()
		return nil, err
	}
	trust, err := registry.DemoTrustList()
	if cfg.TrustList != "" {
		trust, err = registry.NewTrustList(cfg.TrustList)
	}
	if err != nil {
		closeStore()
		return nil, err
	}
	messages, err := consent.NewMessages(cfg.Types)
	if err != nil {
		closeStore()
		return nil, err
	}
	var sender consent.SMS = sms.NewConsole(stderr)
	if cfg.SMS == "http" {
		sender = sms.NewHTTP(cfg.SMSURL, cfg.SMSToken, 5*time.Second, 3)
	}
	var sig *signature.Checker
	if cfg.SignatureCA != "" {
		if sig, err = signature.New(ctx, signature.Config{CAFile: cfg.SignatureCA, CRLs: cfg.SignatureCRLs, Now: now, Log: log}); err != nil {
			closeStore()
			return nil, err
		}
	}
	// The app is offered only with a push service, or printed on the
	// embedded store (development): never a channel that tells nobody.
	notifiers := map[string]consent.Notifier{consent.ChannelSMS: notify.NewSMS(sender)}
	switch {
	case cfg.PushURL != "":
		notifiers[consent.ChannelApp] = notify.NewPush(cfg.PushURL, cfg.PushToken, 5*time.Second, 3)
	case cfg.Embedded():
		notifiers[consent.ChannelApp] = notify.NewConsole(stderr)
	}
	var sigCheck consent.SignatureCheck
	if sig != nil {
		sigCheck = sig
	}
	closeData := closeStore
	closeStore = func() {
		closeData()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTraces(sctx); err != nil {
			log.Warn("traces not flushed", "err", err)
		}
	}
	parts, err := wireDomain(inputs{cfg: cfg, store: st, clients: clients, citizens: citizens, trust: trust, signatures: sigCheck, sms: sender, notifiers: notifiers, messages: messages,
		keys: keys, secrets: secrets, consent: w.consent, metrics: metrics, now: now, log: log})
	if err != nil {
		closeStore()
		return nil, err
	}
	g := &gateway{
		cfg: *cfg, log: log, metrics: metrics, close: closeStore, keys: keys, outbox: parts.outbox, upkeep: parts.upkeep, ledger: parts.ledger, trust: trust, sig: sig,
		deps: httpapi.Deps{
			OAuth: parts.oauth, Authorizations: parts.oauth, Consents: parts.consents, Messages: messages, Partners: parts.partners,
			Directory: clients, Tokens: parts.oauth, Documents: parts.fetcher, Deliveries: parts.outbox, Keys: keys,
			Settings: parts.settings, Grants: parts.grants, Receipts: parts.receipts, Ledger: parts.ledger, PartnerSignatures: parts.oauth, Deletions: parts.upkeep, Activity: st, TermsTexts: st, Reports: parts.reports, Shares: parts.shares, Issuer: cfg.Issuer,
			Requests: parts.requests, Authorities: trust, Terms: cfg.TermsVersion, Logos: logos.New(3 * time.Second),
			Pages:      httpapi.PageConfig{CSRFKey: secrets.Key("csrf"), Secure: strings.HasPrefix(cfg.Issuer, "https://")},
			AdminToken: cfg.AdminToken, TrustedProxies: cfg.TrustedProxies, Metrics: metrics, Log: log,
		},
	}
	g.deps.Ready = func(ctx context.Context) error {
		if g.draining.Load() {
			return errDraining
		}
		return st.Ping(ctx)
	}
	wired = true
	return g, nil
}

// errDraining: the gateway got SIGTERM and waits for load balancers to
// stop sending before it closes its listeners.
var errDraining = errors.New("shutting down")

// serve answers on the listeners until ctx ends; then it stops accepting
// and waits up to the shutdown timeout for requests in flight.
func (g *gateway) serve(ctx context.Context, public, metrics, admin net.Listener) error {
	servers := []*http.Server{
		{Handler: httpapi.New(g.deps, httpapi.Parts{Public: true, Admin: admin == nil})},
		{Handler: g.metrics.Handler()},
	}
	listeners := []net.Listener{public, metrics}
	if admin != nil {
		servers = append(servers, &http.Server{Handler: httpapi.New(g.deps, httpapi.Parts{Admin: true})})
		listeners = append(listeners, admin)
	}
	errc := make(chan error, len(servers))
	for i, s := range servers {
		s.ReadHeaderTimeout = 10 * time.Second
		s.ReadTimeout = 30 * time.Second
		s.WriteTimeout = 60 * time.Second
		s.IdleTimeout = 2 * time.Minute
		s.ErrorLog = slog.NewLogLogger(g.log.Handler(), slog.LevelWarn)
		go func() { errc <- s.Serve(listeners[i]) }()
	}
	// Background work: key reloads and the delivery outbox, stopped after
	// the listeners have drained.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { g.keys.Run(bg, g.log) })
	wg.Go(func() { g.outbox.Run(bg, 500*time.Millisecond) })
	wg.Go(func() { g.trust.Run(bg, 30*time.Second, g.log) })
	if g.sig != nil {
		wg.Go(func() { g.sig.Run(bg, g.cfg.SignatureCRLEvery) })
	}
	wg.Go(func() { g.upkeep.Run(bg, g.cfg.UpkeepEvery) })
	wg.Go(func() { g.ledger.Run(bg, g.cfg.CheckpointEvery) })
	defer func() { stopBG(); wg.Wait() }()

	g.log.Info("kelisim listening", "addr", public.Addr().String(), "issuer", g.cfg.Issuer,
		"metrics", metrics.Addr().String(), "version", version)

	var err error
	select {
	case <-ctx.Done():
		// Fail readiness first and keep serving for the drain window, so
		// load balancers stop sending before connections are cut.
		g.draining.Store(true)
		g.log.Info("draining: readiness fails, requests are still served", "for", g.cfg.DrainTimeout)
		select {
		case <-time.After(g.cfg.DrainTimeout):
		case err = <-errc:
		}
	case err = <-errc:
	}
	g.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	for _, s := range servers {
		if e := s.Shutdown(sctx); e != nil && err == nil {
			err = e
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// partnerDirectory tells delivery what it needs of a partner, read from
// the store: where a document goes and the key it is encrypted to are
// never taken from a cache that may lag a change.
type partnerDirectory struct{ partners oauth.PartnerGetter }

func (d partnerDirectory) PartnerInfo(ctx context.Context, id string) (consent.PartnerInfo, error) {
	p, err := d.partners.GetPartner(ctx, id)
	if err != nil {
		return consent.PartnerInfo{}, err
	}
	return p.DeliveryInfo(), nil
}

// stateSystem is a citizen registry that also holds documents.
type stateSystem interface {
	consent.Registry
	consent.DocumentSource
	consent.ErrorReceiver
}

func newRegistry(cfg *Config) (stateSystem, error) {
	if cfg.Registry == "http" {
		return registry.NewHTTP(registry.HTTPConfig{
			BaseURL: cfg.RegistryURL, Timeout: cfg.RegistryTimeout, Retries: 2,
			CertFile: cfg.RegistryTLS.Cert, KeyFile: cfg.RegistryTLS.Key, CAFile: cfg.RegistryTLS.CA,
		})
	}
	demo, err := registry.NewDemo()
	if err != nil {
		return nil, err
	}
	demo.AddSynthetic(cfg.SyntheticCitizens)
	return demo, nil
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
