package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// Problem is an RFC 9457 problem detail.
type Problem struct {
	Type      string                `json:"type"`
	Title     string                `json:"title"`
	Status    int                   `json:"status"`
	Detail    string                `json:"detail,omitempty"`
	Instance  string                `json:"instance,omitempty"`
	RequestID string                `json:"request_id,omitempty"`
	Errors    []partners.FieldError `json:"errors,omitempty"`
}

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

// renderError maps a domain error to its HTTP answer: the one place where
// error kinds become status codes. The cause of an internal error is logged,
// never shown.
func renderError(c *gin.Context, log *slog.Logger, err error) {
	var invalid *partners.InvalidError
	switch {
	case errors.As(err, &invalid):
		writeProblem(c, Problem{Title: "Invalid request", Status: http.StatusBadRequest,
			Detail: "The request has invalid fields.", Errors: invalid.Problems})
	case errors.Is(err, partners.ErrNotFound):
		problem(c, http.StatusNotFound, "Not found", "No partner with that client_id.")
	case errors.Is(err, partners.ErrConflict):
		problem(c, http.StatusConflict, "Conflict", "The partner changed concurrently; try again.")
	case consent.StoreFailed(c.Request.Context(), err):
		unavailable(c, log, err)
	case errors.Is(err, context.Canceled):
		c.Abort()
	default:
		log.ErrorContext(c.Request.Context(), "request failed", "err", err)
		problem(c, http.StatusInternalServerError, "Internal error", "The gateway could not complete the request.")
	}
}

// unavailable answers 503 with Retry-After: the store could not be asked,
// which says nothing about the request itself.
func unavailable(c *gin.Context, log *slog.Logger, err error) {
	log.WarnContext(c.Request.Context(), "store unavailable", "route", c.FullPath(), "err", err)
	c.Header("Retry-After", oauth.RetryAfterUnavailable)
	problem(c, http.StatusServiceUnavailable, "Service unavailable", "The gateway cannot reach its store right now; try again shortly.")
}
