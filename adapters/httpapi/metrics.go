package httpapi

import (
	"context"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kelisim/kelisim/consent"
)

// Metrics are the gateway's Prometheus metrics.
type Metrics struct {
	registry      *prometheus.Registry
	httpDuration  *prometheus.HistogramVec
	tokensIssued  *prometheus.CounterVec
	oauthErrors   *prometheus.CounterVec
	storeDuration *prometheus.HistogramVec
	statements    *prometheus.CounterVec
	historySize   prometheus.Gauge
	tampered      prometheus.Counter
	overdue       prometheus.Gauge
	otp           *prometheus.CounterVec
	deliveries    *prometheus.CounterVec
	ready         prometheus.Gauge
}

// NewMetrics registers the gateway's metrics, with the Go runtime's and the
// process's, on a registry of its own.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		registry: reg,
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kelisim_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method", "status"}),
		tokensIssued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kelisim_tokens_issued_total",
			Help: "Token responses issued, by grant type.",
		}, []string{"grant_type"}),
		oauthErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kelisim_oauth_errors_total",
			Help: "OAuth errors answered, by endpoint and error code.",
		}, []string{"endpoint", "error"}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kelisim_store_operation_duration_seconds",
			Help:    "Time of one store operation, by operation.",
			Buckets: []float64{.0002, .0005, .001, .0025, .005, .01, .025, .05, .1, .5},
		}, []string{"operation"}),
		statements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kelisim_http_statements_total",
			Help: "PostgreSQL statements sent while answering HTTP requests, by route (divide by the route's request count for statements per request).",
		}, []string{"route", "method"}),
		historySize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kelisim_history_tree_size",
			Help: "Events in the history's log as of the latest signed head this replica published.",
		}),
		overdue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kelisim_deletion_confirmations_overdue",
			Help: "Ended grants whose partner has not confirmed deletion within the deadline (counted to 1000).",
		}),
		tampered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kelisim_history_tamper_detected_total",
			Help: "Rounds that found the stored history no longer matching its log (an operator must act).",
		}),
		otp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kelisim_otp_events_total",
			Help: "What became of one-time codes: sent, send_failed (the SMS provider refused or did not answer), limited (a send refused by a rate limit), right, wrong, locked (the last try spent).",
		}, []string{"event"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kelisim_deliveries_total",
			Help: "Attempts at outbox entries (pushes to partners, revocations, citizens' notices), by kind and outcome: delivered, retry, dead (dead-lettered).",
		}, []string{"kind", "outcome"}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kelisim_ready",
			Help: "1 when this replica's latest readiness check (GET /readyz) found the store reachable and the replica not draining, else 0.",
		}),
	}
	// Every outcome is there from the start, so that a rate over it is 0
	// rather than absent before the first event.
	// (Prometheus's increase() does not count a series' first sample: a
	// dead letter counted on a series made by it would raise no alert.)
	for _, e := range []string{consent.OTPSent, consent.OTPSendFailed, consent.OTPLimited, consent.OTPRight, consent.OTPWrong, consent.OTPLocked} {
		m.otp.WithLabelValues(e)
	}
	for _, kind := range []string{consent.KindGrantDocuments, consent.KindDocumentChanged, consent.KindGrantRevoked, consent.KindGrantNarrowed,
		consent.NoticeGranted, consent.NoticeEnded, consent.NoticeUsed, consent.NoticeTerms} {
		for _, outcome := range []string{consent.DeliveryDone, consent.DeliveryRetry, consent.DeliveryDead} {
			m.deliveries.WithLabelValues(kind, outcome)
		}
	}
	reg.MustRegister(m.httpDuration, m.tokensIssued, m.oauthErrors, m.storeDuration, m.statements, m.historySize, m.tampered, m.overdue,
		m.otp, m.deliveries, m.ready,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Ready records what a readiness check found.
func (m *Metrics) Ready(ok bool) {
	if ok {
		m.ready.Set(1)
	} else {
		m.ready.Set(0)
	}
}

// OTP implements consent.OTPObserver.
func (m *Metrics) OTP(event string) { m.otp.WithLabelValues(event).Inc() }

// Delivery implements consent.DeliveryObserver.
func (m *Metrics) Delivery(kind, outcome string) { m.deliveries.WithLabelValues(kind, outcome).Inc() }

// WatchPartnerCache exports the state of the store's partner cache, read
// at each scrape: whether it is listening for changes (else bypassed) and
// how many partners it holds.
func (m *Metrics) WatchPartnerCache(state func() (listening bool, entries int)) {
	m.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kelisim_partner_cache_listening",
			Help: "1 while the partner cache listens for changes and is used; 0 while it is bypassed (its connection lost).",
		}, func() float64 {
			if listening, _ := state(); listening {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kelisim_partner_cache_entries",
			Help: "Partners held in this replica's partner cache.",
		}, func() float64 {
			_, n := state()
			return float64(n)
		}))
}

// TokenIssued implements oauth.Observer.
func (m *Metrics) TokenIssued(grantType string) { m.tokensIssued.WithLabelValues(grantType).Inc() }

// OAuthError implements oauth.Observer.
func (m *Metrics) OAuthError(endpoint, kind string) {
	m.oauthErrors.WithLabelValues(endpoint, kind).Inc()
}

// Checkpointed implements consent.LedgerObserver.
func (m *Metrics) Checkpointed(size int64) { m.historySize.Set(float64(size)) }

// OverdueDeletions implements consent.UpkeepObserver.
func (m *Metrics) OverdueDeletions(n int) { m.overdue.Set(float64(n)) }

// Tampered implements consent.LedgerObserver.
func (m *Metrics) Tampered() { m.tampered.Inc() }

// StoreOperation records how long one store operation took and counts it
// against the HTTP request it was sent for, if any.
func (m *Metrics) StoreOperation(ctx context.Context, op string, d time.Duration) {
	m.storeDuration.WithLabelValues(op).Observe(d.Seconds())
	if n, ok := ctx.Value(statementsKey{}).(*atomic.Int32); ok {
		n.Add(1)
	}
}

// statementsKey holds, in a request's context, how many statements were
// sent for it.
type statementsKey struct{}

func (m *Metrics) middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		var statements atomic.Int32
		c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), statementsKey{}, &statements))
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		m.httpDuration.WithLabelValues(route, c.Request.Method, strconv.Itoa(c.Writer.Status())).
			Observe(time.Since(start).Seconds())
		if n := statements.Load(); n > 0 {
			m.statements.WithLabelValues(route, c.Request.Method).Add(float64(n))
		}
	}
}

// Handler serves /metrics and, for profiling, /debug/pprof/ on the metrics
// listener, which is kept off the public network.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
