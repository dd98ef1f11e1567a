// Package httpapi is Kelisim's HTTP face: the gin router, its middleware,
// the admin API and the one renderer every API error goes through.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
)

// OAuth is the OAuth 2.0 / OpenID Connect server the router serves.
type OAuth interface {
	Authorize(http.ResponseWriter, *http.Request)
	Token(http.ResponseWriter, *http.Request)
	PAR(http.ResponseWriter, *http.Request)
	Introspect(http.ResponseWriter, *http.Request)
	Revoke(http.ResponseWriter, *http.Request)
	Userinfo(http.ResponseWriter, *http.Request)
	Discovery(http.ResponseWriter, *http.Request)
	JWKS(http.ResponseWriter, *http.Request)
}

// Deps is what the router needs.
type Deps struct {
	OAuth          OAuth
	Authorizations Authorizations
	Consents       Consents
	Messages       *consent.Messages
	Consent        ConsentConfig
	Partners       Partners
	// Directory reads partners for display on every page and API answer;
	// it may serve them from a cache the store keeps current.
	Directory  Directory
	Tokens     Tokens
	Documents  Documents
	Keys       Keys
	Settings   Settings
	Reports    Reports
	Shares     Shares
	Issuer     string
	AdminToken string
	// TrustedProxies are the proxies whose X-Forwarded-For is believed
	// for the client IP; none by default.
	TrustedProxies []string
	Ready          func(context.Context) error
	Metrics        *Metrics
	Log            *slog.Logger
}

// Parts says which parts a listener serves.
type Parts struct {
	Public bool // OAuth, discovery, health
	Admin  bool // /admin/v1
}

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 1 << 20

func init() { gin.SetMode(gin.ReleaseMode) }

// New returns the handler of one listener.
func New(d Deps, parts Parts) http.Handler {
	r := gin.New()
	if err := r.SetTrustedProxies(d.TrustedProxies); err != nil {
		panic(err) // validated with the configuration
	}
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	var pages *consentPages
	if parts.Public {
		pages = newConsentPages(d)
	}
	r.Use(requestID(), logRequests(d.Log), d.Metrics.middleware(), recoverProblem(d.Log), secureHeaders(strings.HasPrefix(d.Issuer, "https://")), cleanText(pages))
	r.NoRoute(func(c *gin.Context) { problem(c, http.StatusNotFound, "Not found", "No such resource.") })
	r.NoMethod(func(c *gin.Context) { problem(c, http.StatusMethodNotAllowed, "Method not allowed", "") })

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if err := d.Ready(ctx); err != nil {
			d.Log.WarnContext(ctx, "not ready", "err", err)
			c.Header("Retry-After", oauth.RetryAfterUnavailable)
			problem(c, http.StatusServiceUnavailable, "Not ready", "The store is not reachable.")
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	})
	if parts.Public {
		o := d.OAuth
		noStore := func(c *gin.Context) { c.Header("Cache-Control", "no-store"); c.Header("Pragma", "no-cache") }
		r.GET(oauth.PathDiscovery, gin.WrapF(o.Discovery))
		r.GET(oauth.PathJWKS, gin.WrapF(o.JWKS))
		authorize := func(c *gin.Context) {
			c.Request = c.Request.WithContext(oauth.WithClientAddress(c.Request.Context(), c.ClientIP()))
			o.Authorize(c.Writer, c.Request)
		}
		r.GET(oauth.PathAuthorize, noStore, authorize)
		r.POST(oauth.PathAuthorize, noStore, authorize)
		r.POST(oauth.PathToken, noStore, gin.WrapF(o.Token))
		r.POST(oauth.PathPAR, noStore, gin.WrapF(o.PAR))
		r.POST(oauth.PathIntrospect, noStore, gin.WrapF(o.Introspect))
		r.POST(oauth.PathRevoke, noStore, gin.WrapF(o.Revoke))
		r.GET(oauth.PathUserinfo, noStore, gin.WrapF(o.Userinfo))
		r.POST(oauth.PathUserinfo, noStore, gin.WrapF(o.Userinfo))
		pages.routes(r)
		(&myPages{consentPages: pages, settings: d.Settings, shares: d.Shares}).routes(r)
		(&verifyAPI{d: d}).routes(r)
		(&meAPI{tokens: d.Tokens, settings: d.Settings, partners: d.Directory, d: d}).routes(r)
		api := &documentsAPI{tokens: d.Tokens, docs: d.Documents, d: d}
		v1 := r.Group("/api/v1", requireToken(d.Tokens, d.Log, "", "a citizen's grant", func(i oauth.AccessInfo) bool { return i.GrantID != "" }))
		v1.GET("/documents", api.list)
		v1.GET("/documents/:type", api.fetch)
	}
	if parts.Admin {
		a := &admin{partners: d.Partners, log: d.Log}
		g := r.Group("/admin/v1", adminAuth(d.AdminToken))
		g.POST("/partners", a.create)
		g.GET("/partners", a.list)
		g.GET("/partners/:id", a.get)
		g.PATCH("/partners/:id", a.update)
		g.POST("/partners/:id/secret", a.rotateSecret)
		g.POST("/partners/:id/suspend", a.suspend)
		g.POST("/partners/:id/resume", a.resume)
		g.GET("/audit", a.audit)
		api := &documentsAPI{tokens: d.Tokens, docs: d.Documents, d: d}
		g.GET("/deliveries", api.deliveries)
		g.POST("/deliveries/:id/replay", api.replay)
		g.POST("/keys/rotate", api.rotateKeys)
		g.POST("/documents/changed", api.documentChanged)
		g.POST("/reports/:id/answer", api.answerReport)
	}
	return r
}

// requestID gives every request an id, taken from X-Request-Id when it is
// sane, and returns it in the response.
func requestID() gin.HandlerFunc {
	sane := regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-Id")
		if !sane.MatchString(id) {
			b := make([]byte, 12)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Header("X-Request-Id", id)
		// The store notes in the context when it fails, so that no answer
		// computed without it passes for a real one.
		c.Request = c.Request.WithContext(consent.WatchStore(withRequestID(c.Request.Context(), id)))
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes)
		c.Next()
	}
}

// logRequests writes one line per request: the route pattern, never the
// raw path or query, which may carry an IIN or a code.
func logRequests(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		log.InfoContext(c.Request.Context(), "request",
			"method", c.Request.Method, "route", route, "status", c.Writer.Status(),
			"duration_ms", float64(time.Since(start).Microseconds())/1000)
	}
}

func recoverProblem(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(c.Request.Context(), "panic", "value", v)
				problem(c, http.StatusInternalServerError, "Internal error", "")
			}
		}()
		c.Next()
	}
}

// secureHeaders are on every answer; on an https issuer HSTS too, so a
// browser never reaches the gateway over plain http again.
func secureHeaders(https bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		if https {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		c.Next()
	}
}
