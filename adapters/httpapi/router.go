// Package httpapi is Kelisim's HTTP face: the gin router with its one
// route table, the middleware, the citizen's pages, the partners', the
// citizen's app's and the operator's APIs, and the one error map every
// handler answers failures through (errors.go). Handlers parse, call the
// domain through the small interfaces they declare, and render.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
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

// Deps is what the router needs; each handler gets only its part.
type Deps struct {
	OAuth          OAuth
	Authorizations Authorizations
	Consents       Consents
	Requests       consent.RequestPolicy // what a consent may ask and be answered
	Terms          string                // the terms version the pages show
	Messages       *consent.Messages
	Pages          PageConfig
	Partners       Partners
	// Directory reads partners for display on every page and API answer;
	// it may serve them from a cache the store keeps current.
	Directory  Directory
	Logos      Logos
	Tokens     Tokens
	Documents  Documents
	Deliveries Deliveries
	Keys       Keys
	Settings   Settings
	Grants     PartnerGrants
	Receipts   Receipts
	// Activity counts partners' activity for the public register.
	Activity Activity
	// Deletions lists overdue deletion confirmations for the operator.
	Deletions OverdueDeletions
	// PartnerSignatures verifies statements partners sign with their keys.
	PartnerSignatures PartnerSignatures
	Ledger            Ledger
	// TermsTexts are the texts of the terms the gateway keeps, served at
	// /terms/{version}.
	TermsTexts TermsTexts
	Reports    Reports
	Shares     Shares
	// Authorities are the issuing authorities whose signatures documents
	// carry, published at /trust-list.json.
	Authorities interface{ Authorities() []consent.Authority }
	Issuer      string
	AdminToken  string
	// TrustedProxies are the proxies whose X-Forwarded-For is believed
	// for the client IP; none by default.
	TrustedProxies []string
	Ready          func(context.Context) error
	Metrics        *Metrics
	Log            *slog.Logger
}

// Parts says which parts a listener serves.
type Parts struct {
	Public bool // OAuth, pages, partners' and citizens' APIs, health
	Admin  bool // /admin/v1
}

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 1 << 20

func init() { gin.SetMode(gin.ReleaseMode) }

// New returns the handler of one listener. Its route table reads top to
// bottom: health, OAuth, the consent pages, the citizen's pages, the
// partners' APIs, the citizen's app's API, then the operator's.
func New(d Deps, parts Parts) http.Handler {
	r := gin.New()
	if err := r.SetTrustedProxies(d.TrustedProxies); err != nil {
		panic(err) // validated with the configuration
	}
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	var pg *pages
	if parts.Public {
		pg = newPages(d.Messages, d.Pages, d.Terms, d.Log)
	}
	r.Use(requestID(), traceRequests(), logRequests(d.Log), d.Metrics.middleware(), recoverProblem(d.Log), secureHeaders(strings.HasPrefix(d.Issuer, "https://")), cleanText(pg))
	r.NoRoute(func(c *gin.Context) { problem(c, http.StatusNotFound, "Not found", "No such resource.") })
	r.NoMethod(func(c *gin.Context) { problem(c, http.StatusMethodNotAllowed, "Method not allowed", "") })

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", ready(d.Ready, d.Metrics, d.Log))
	r.GET("/openapi.json", serveOpenAPI)
	if parts.Public {
		publicRoutes(r, d, pg)
	}
	if parts.Admin {
		adminRoutes(r, d)
	}
	return r
}

func publicRoutes(r *gin.Engine, d Deps, pg *pages) {
	// OAuth 2.0 and OpenID Connect.
	o := d.OAuth
	noStore := func(c *gin.Context) { c.Header("Cache-Control", "no-store"); c.Header("Pragma", "no-cache") }
	authorize := func(c *gin.Context) {
		c.Request = c.Request.WithContext(oauth.WithClientAddress(c.Request.Context(), c.ClientIP()))
		o.Authorize(c.Writer, c.Request)
	}
	r.GET(oauth.PathDiscovery, gin.WrapF(o.Discovery))
	r.GET(oauth.PathJWKS, gin.WrapF(o.JWKS))
	r.GET(oauth.PathAuthorize, noStore, authorize)
	r.POST(oauth.PathAuthorize, noStore, authorize)
	r.POST(oauth.PathToken, noStore, gin.WrapF(o.Token))
	r.POST(oauth.PathPAR, noStore, gin.WrapF(o.PAR))
	r.POST(oauth.PathIntrospect, noStore, gin.WrapF(o.Introspect))
	r.POST(oauth.PathRevoke, noStore, gin.WrapF(o.Revoke))
	r.GET(oauth.PathUserinfo, noStore, gin.WrapF(o.Userinfo))
	r.POST(oauth.PathUserinfo, noStore, gin.WrapF(o.Userinfo))

	// The consent pages, their assets and partners' logos.
	cp := &consentPages{pages: pg, auth: d.Authorizations, consents: d.Consents, policy: d.Requests, partners: d.Directory}
	r.GET("/static/*file", static())
	r.GET("/partner-logo/:client", (&logoProxy{partners: d.Directory, logos: d.Logos}).serve)
	cg := r.Group("/consent", pageHeaders)
	cg.GET("/:id", cp.showConsent)
	cg.POST("/:id", cp.protect, cp.start)
	cg.GET("/:id/otp", cp.showOTP)
	cg.POST("/:id/otp", cp.protect, cp.answer)
	cg.GET("/:id/sign", cp.showSign)
	cg.POST("/:id/sign", cp.protect, cp.sign)

	// Consent receipts: their status for anybody, the terms they cover.
	rc := &receiptsAPI{receipts: d.Receipts, terms: d.TermsTexts, log: d.Log}
	r.GET("/receipts/:id", rc.status)
	r.GET("/terms/:version", rc.text)

	// The issuing authorities whose signatures documents carry: what a
	// partner or verifier checks a document's inner signature with.
	r.GET("/trust-list.json", func(c *gin.Context) {
		list := d.Authorities.Authorities()
		slices.SortFunc(list, func(a, b consent.Authority) int { return strings.Compare(a.ID, b.ID) })
		c.Header("Cache-Control", "public, max-age=300")
		c.JSON(http.StatusOK, gin.H{"authorities": list})
	})

	// The public register of partners.
	reg := &registerAPI{pages: pg, partners: d.Partners, activity: d.Activity, now: time.Now, log: d.Log}
	r.GET("/register", pageHeaders, reg.page)
	r.GET("/register.json", reg.json)

	// The history's public log: signed heads and consistency proofs.
	hl := &historyAPI{ledger: d.Ledger, log: d.Log}
	r.GET("/history/checkpoints", hl.checkpoints)
	r.GET("/history/checkpoints/:size", hl.checkpoint)
	r.GET("/history/consistency", hl.consistency)

	// The citizen's settings pages.
	my := &myPages{pages: pg, termsTexts: d.TermsTexts, signatures: d.Consents.SignaturesOffered(), codes: d.Consents, settings: d.Settings, shares: d.Shares, partners: d.Directory, receipts: d.Receipts, ledger: d.Ledger}
	mg := r.Group("/my", pageHeaders)
	mg.GET("/", my.home)
	mg.POST("/login", my.protectMy, my.startLogin)
	mg.GET("/login/otp", my.showLoginOTP)
	mg.POST("/login/otp", my.protectMy, my.login)
	mg.POST("/login/signature", my.protectMy, my.startSignatureLogin)
	mg.GET("/login/sign", my.showSignatureLogin)
	mg.POST("/login/sign", my.protectMy, my.signatureLogin)
	mg.POST("/logout", my.protectMy, my.logout)
	mg.POST("/revoke", my.protectMy, my.loggedIn, my.revoke)
	mg.GET("/grants/:id/receipt", my.loggedIn, my.receipt)
	mg.GET("/history/export", my.loggedIn, my.historyExport)
	mg.POST("/erase", my.protectMy, my.loggedIn, my.erase)
	mg.POST("/notifications", my.protectMy, my.loggedIn, my.notifications)
	mg.GET("/documents", my.loggedIn, my.documents)
	mg.GET("/terms", my.loggedIn, my.showTerms)
	mg.POST("/terms/decline", my.protectMy, my.loggedIn, my.declineTerms)
	mg.GET("/v/:token", my.showQR)
	mg.POST("/verify", my.protectMy, my.loggedIn, my.verify)
	mg.GET("/documents/:holder/:type", my.loggedIn, my.document)
	mg.POST("/report", my.protectMy, my.loggedIn, my.report)
	mg.POST("/share", my.protectMy, my.loggedIn, my.openShare)
	mg.GET("/share/:id", my.loggedIn, my.showShare)
	mg.GET("/share/:id/qr.png", my.shareQR)
	mg.POST("/share/:id/extend", my.protectMy, my.loggedIn, my.extendShare)
	mg.POST("/share/:id/close", my.protectMy, my.loggedIn, my.closeShare)

	// Partners: documents under a citizen's grant; verifiers: shares.
	docs := &documentsAPI{docs: d.Documents, types: d.Messages.Types(), log: d.Log}
	dg := r.Group("/api/v1", requireToken(d.Tokens, d.Log, "", "a citizen's grant", func(i oauth.AccessInfo) bool { return i.GrantID != "" }))
	dg.GET("/documents", docs.list)
	dg.GET("/documents/:type", docs.fetch)
	v := &verifyAPI{shares: d.Shares, issuer: d.Issuer, log: d.Log}
	vg := r.Group("/api/v1/verify", requireToken(d.Tokens, d.Log, partners.ScopeVerify, "a verifier's", func(oauth.AccessInfo) bool { return true }))
	vg.POST("", v.verify)
	vg.GET("/history", v.history)
	r.GET("/v/:token", my.qrLanding)

	// Partners manage the grants they hold, with any token of their own.
	gm := &grantsAPI{grants: d.Grants, signatures: d.PartnerSignatures, log: d.Log}
	gg := r.Group(oauth.PathGrants, requireToken(d.Tokens, d.Log, "", "a partner's", func(oauth.AccessInfo) bool { return true }))
	gg.GET("/:id", gm.get)
	gg.DELETE("/:id", gm.end)
	gg.POST("/:id/deletion", gm.deletion)

	// The citizen's app: the settings as JSON, for tokens with "me".
	me := &meAPI{settings: d.Settings, shares: d.Shares, partners: d.Directory, messages: d.Messages, log: d.Log}
	eg := r.Group("/api/v1/me", requireToken(d.Tokens, d.Log, partners.ScopeMe, "a citizen's", func(i oauth.AccessInfo) bool { return i.Citizen != "" }))
	eg.GET("/grants", me.grants)
	eg.POST("/grants/:id/revoke", me.revoke)
	eg.GET("/grants/:id/receipt", rc.forApp)
	eg.POST("/partners/:id/revoke", me.revoke)
	eg.POST("/revoke-all", me.revoke)
	eg.GET("/history", me.history)
	eg.GET("/history/export", hl.export)
	eg.POST("/erase", me.erase)
	eg.GET("/documents", me.documents)
	eg.GET("/notifications", me.notifications)
	eg.PUT("/notifications", me.setNotifications)
	eg.POST("/reports", me.report)
	eg.GET("/reports", me.reports)
	eg.POST("/shares", me.openShare)
	eg.GET("/shares/:id", me.getShare)
	eg.GET("/shares/:id/qr.png", me.shareQR)
	eg.POST("/shares/:id/extend", me.extendShare)
	eg.POST("/shares/:id/close", me.closeShare)
}

// adminRoutes is the operator's API, behind the admin token.
func adminRoutes(r *gin.Engine, d Deps) {
	a := &admin{partners: d.Partners, deliveries: d.Deliveries, keys: d.Keys, reports: d.Reports, deletions: d.Deletions, types: d.Messages.Types(), log: d.Log}
	g := r.Group("/admin/v1", adminAuth(d.AdminToken))
	g.POST("/partners", a.create)
	g.GET("/partners", a.list)
	g.GET("/partners/:id", a.get)
	g.PATCH("/partners/:id", a.update)
	g.POST("/partners/:id/secret", a.rotateSecret)
	g.POST("/partners/:id/suspend", a.suspend)
	g.POST("/partners/:id/resume", a.resume)
	g.GET("/audit", a.audit)
	g.GET("/deliveries", a.listDeliveries)
	g.POST("/deliveries/:id/replay", a.replay)
	g.POST("/keys/rotate", a.rotateKeys)
	g.POST("/documents/changed", a.documentChanged)
	g.POST("/reports/:id/answer", a.answerReport)
	g.GET("/deletions/overdue", a.overdueDeletions)
}

// ready answers the readiness probe: 503 while the store is unreachable
// or the gateway drains.
func ready(check func(context.Context) error, m *Metrics, log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		err := check(ctx)
		if m != nil {
			m.Ready(err == nil)
		}
		if err != nil {
			log.WarnContext(ctx, "not ready", "err", err)
			c.Header("Retry-After", oauth.RetryAfterUnavailable)
			problem(c, http.StatusServiceUnavailable, "Not ready", "The store is not reachable.")
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	}
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
