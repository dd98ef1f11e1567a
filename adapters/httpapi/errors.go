package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
)

// The one error map. Every handler that meets a domain error hands it to
// renderError (APIs) or pages.fail (pages): the error's kind picks the
// status, the problem title, the headers and the page message below, and
// nowhere else. Handlers still answer what is not a domain error — a
// missing bearer token, a body that is not JSON — where HTTP itself says
// how.

// kindAnswer is how one kind of failure is answered.
type kindAnswer struct {
	status int
	title  string // problem+json title
	page   string // message a page shows when the error has none of its own
}

var answers = map[consent.Kind]kindAnswer{
	consent.KindInternal:     {http.StatusInternalServerError, "Internal error", "err_internal"},
	consent.KindInvalid:      {http.StatusBadRequest, "Invalid request", "err_forbidden"},
	consent.KindUnauthorized: {http.StatusUnauthorized, "Unauthorized", "err_forbidden"},
	consent.KindForbidden:    {http.StatusForbidden, "Forbidden", "err_forbidden"},
	consent.KindNotFound:     {http.StatusNotFound, "Not found", "err_request_gone"},
	consent.KindConflict:     {http.StatusConflict, "Conflict", "err_internal"},
	consent.KindRateLimited:  {http.StatusTooManyRequests, "Too many requests", "err_rate_limited"},
	consent.KindUnavailable:  {http.StatusServiceUnavailable, "Service unavailable", "err_unavailable"},
	consent.KindUpstream:     {http.StatusServiceUnavailable, "State system unavailable", "err_registry_down"},
	consent.KindUntrusted:    {http.StatusBadGateway, "Document not verified", "err_issuer_signature"},
}

// retryUpstream is how long a caller waits for a state system.
const retryUpstream = "30"

// failure is one error as the gateway answers it.
type failure struct {
	kind consent.Kind
	kindAnswer
	detail     string // for APIs: the domain's sentence; none for internal errors
	msgID      string // for pages
	count      []int  // the plural count of msgID
	retryAfter string // seconds; "" for none
	wait       time.Duration
	fields     []consent.FieldError
}

// classify is the map itself. An error met while the store was failing
// is the store's failure, whatever it says: nothing was decided.
func classify(ctx context.Context, err error) failure {
	kind := consent.KindOf(err)
	if consent.StoreFailed(ctx, err) {
		kind = consent.KindUnavailable
	}
	f := failure{kind: kind, kindAnswer: answers[kind], fields: consent.FieldsOf(err)}
	f.msgID, f.count = consent.MessageOf(err)
	switch kind {
	case consent.KindInternal:
		f.detail, f.msgID, f.count = "The gateway could not complete the request.", f.page, nil
	case consent.KindUnavailable:
		f.detail, f.msgID, f.count = "The gateway cannot reach its store right now; try again shortly.", f.page, nil
		f.retryAfter = oauth.RetryAfterUnavailable
	case consent.KindUpstream:
		f.detail, f.retryAfter = sentence(err), retryUpstream
	case consent.KindRateLimited:
		f.detail = sentence(err)
		if wait, ok := consent.RetryAfterOf(err); ok {
			f.retryAfter, f.wait = seconds(wait), wait
		}
	default:
		f.detail = sentence(err)
	}
	if f.msgID == "" {
		f.msgID = f.page
	}
	return f
}

// sentence is what the domain says of err, as an API shows it: the text
// of the first error in its chain that has a kind (never what it wraps,
// which may name internals), capitalised, with a full stop.
func sentence(err error) string {
	var k interface {
		error
		Kind() consent.Kind
	}
	if !errors.As(err, &k) {
		return ""
	}
	s := k.Error()
	if s == "" {
		return ""
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	if !strings.HasSuffix(s, ".") {
		r = append(r, '.')
	}
	return string(r)
}

// seconds rounds a wait up to whole seconds, as Retry-After takes it.
func seconds(d time.Duration) string { return strconv.Itoa(int(math.Ceil(d.Seconds()))) }

// renderError answers an API request with the problem+json of err. The
// cause of an internal error is logged, never shown; a request its client
// gave up on gets no answer.
func renderError(c *gin.Context, log *slog.Logger, err error) {
	ctx := c.Request.Context()
	f := classify(ctx, err)
	switch f.kind {
	case consent.KindInternal:
		if errors.Is(err, context.Canceled) {
			c.Abort()
			return
		}
		log.ErrorContext(ctx, "request failed", "route", c.FullPath(), "err", err)
	case consent.KindUnavailable:
		log.WarnContext(ctx, "store unavailable", "route", c.FullPath(), "err", err)
	case consent.KindUpstream:
		log.WarnContext(ctx, "state system unavailable", "route", c.FullPath(), "err", err)
	case consent.KindUnauthorized:
		c.Header("WWW-Authenticate", `Bearer realm="kelisim", error="invalid_token"`)
	}
	if f.retryAfter != "" {
		c.Header("Retry-After", f.retryAfter)
	}
	writeProblem(c, Problem{Title: f.title, Status: f.status, Detail: f.detail, Errors: f.fields})
}

// Problem is an RFC 9457 problem detail.
type Problem struct {
	Type      string               `json:"type"`
	Title     string               `json:"title"`
	Status    int                  `json:"status"`
	Detail    string               `json:"detail,omitempty"`
	Instance  string               `json:"instance,omitempty"`
	RequestID string               `json:"request_id,omitempty"`
	Errors    []consent.FieldError `json:"errors,omitempty"`
}

// problem answers what HTTP itself decides: no route, no method, no token,
// a body that is not JSON.
func problem(c *gin.Context, status int, title, detail string) {
	writeProblem(c, Problem{Title: title, Status: status, Detail: detail})
}

func writeProblem(c *gin.Context, p Problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	p.Instance = c.Request.URL.Path
	p.RequestID = requestIDFrom(c.Request.Context())
	c.Header("Content-Type", "application/problem+json")
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(p.Status, p)
}

// message is what a page says of f in l's language.
func (f failure) message(l *consent.Localizer) string {
	if f.msgID == "err_rate_limited" {
		return l.T(f.msgID, map[string]any{
			"Time":    time.Now().Add(f.wait).In(almaty).Format("15:04"),
			"Minutes": int(math.Ceil(f.wait.Minutes())),
		})
	}
	return l.T(f.msgID, nil, f.count...)
}
