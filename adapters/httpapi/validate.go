package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// Text that reaches the gateway is checked once, at the edge: a NUL byte
// or invalid UTF-8 in the path, the query, a form or JSON body, or the
// Authorization header is refused with 400 before any handler runs.
// PostgreSQL refuses such text, nothing legitimate sends it, and a handler
// should not have to think about it.

// errBadText names where the bad text was.
type errBadText struct{ where string }

func (e errBadText) Error() string { return "invalid text in " + e.where }

// goodText reports whether s is valid UTF-8 without a NUL.
func goodText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// checkText returns errBadText for the first bad value of r, reading (and
// keeping) a form or JSON body, or another error when the body cannot be
// read at all.
func checkText(r *http.Request) error {
	if !goodText(r.URL.Path) {
		return errBadText{"the path"}
	}
	if !goodValues(r.URL.Query()) {
		return errBadText{"the query"}
	}
	if auth := r.Header.Get("Authorization"); !goodText(auth) {
		return errBadText{"the Authorization header"}
	} else if user, pass, ok := r.BasicAuth(); ok {
		// OAuth clients form-encode their credentials (RFC 6749 §2.3.1).
		u, _ := url.QueryUnescape(user)
		p, _ := url.QueryUnescape(pass)
		if !goodText(user) || !goodText(pass) || !goodText(u) || !goodText(p) {
			return errBadText{"the credentials"}
		}
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case ct == "application/x-www-form-urlencoded":
		// Read and put back, not parsed into the request: a JSON body sent
		// with a form's content type (curl -d) still reaches its handler.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if form, err := url.ParseQuery(string(body)); !goodText(string(body)) || (err == nil && !goodValues(form)) {
			return errBadText{"the form"}
		}
	case ct == "multipart/form-data": // fosite reads OAuth requests in this form too
		if err := r.ParseMultipartForm(MaxBodyBytes); err != nil {
			return err
		}
		if !goodValues(r.MultipartForm.Value) {
			return errBadText{"the form"}
		}
		for name, files := range r.MultipartForm.File {
			for _, f := range files {
				if !goodText(name) || !goodText(f.Filename) {
					return errBadText{"the form"}
				}
			}
		}
	case ct == "application/json" || strings.HasSuffix(ct, "+json"):
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if !utf8.Valid(body) || !goodJSON(body) {
			return errBadText{"the JSON body"}
		}
	}
	return nil
}

func goodValues(v url.Values) bool {
	for k, vs := range v {
		if !goodText(k) {
			return false
		}
		for _, s := range vs {
			if !goodText(s) {
				return false
			}
		}
	}
	return true
}

// goodJSON reports whether no string of body (key or value) holds a NUL
// once unescaped. A body that is not JSON is left to its handler.
func goodJSON(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return true
		}
		if s, ok := tok.(string); ok && strings.ContainsRune(s, 0) {
			return false
		}
	}
}

// cleanText refuses requests with bad text, answering as the route's kind
// of client expects: OAuth endpoints an OAuth error, pages a page in the
// citizen's language, everything else problem+json.
func cleanText(pages *pages) gin.HandlerFunc {
	return func(c *gin.Context) {
		err := checkText(c.Request)
		if err == nil {
			c.Next()
			return
		}
		status, detail := http.StatusBadRequest, ""
		var bad errBadText
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &bad):
			detail = "The request holds text the gateway cannot accept (a NUL byte or invalid UTF-8) in " + bad.where + "."
		case errors.As(err, &tooLarge):
			status, detail = http.StatusRequestEntityTooLarge, "The body is larger than the gateway accepts."
		default:
			detail = "The request body cannot be read."
		}
		path := c.Request.URL.Path
		switch {
		case strings.HasPrefix(path, "/oauth2/") || path == "/userinfo":
			c.Header("Cache-Control", "no-store")
			c.AbortWithStatusJSON(status, gin.H{"error": "invalid_request", "error_description": detail})
		case pages != nil && (strings.HasPrefix(path, "/consent/") || strings.HasPrefix(path, "/my/") || strings.HasPrefix(path, "/v/") || path == "/register"):
			l := pages.localizer(c, "")
			pages.render(c, status, "error.html", view{L: l, Lang: l.Lang, Title: l.T("error_title", nil), Error: l.T("err_bad_input", nil)})
		default:
			problem(c, status, "Invalid request", detail)
		}
	}
}
