package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/kelisim/kelisim/adapters/httpapi"
)

// Every request the end-to-end suite sends to an API the OpenAPI
// description covers, and the answer it gets, are checked against the
// description as they happen (kin-openapi's request and response
// validation): a test whose traffic the description does not allow
// fails, so the description cannot drift from what the gateway does.

var apiSpec = sync.OnceValues(func() (routers.Router, error) {
	raw, err := httpapi.OpenAPI()
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	return gorillamux.NewRouter(doc)
})

// checkedTransport checks each exchange on a described path against the
// description, failing t when it is not allowed.
type checkedTransport struct {
	t    *testing.T
	next http.RoundTripper
}

func (c checkedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !httpapi.Described(req.URL.Path) {
		return c.next.RoundTrip(req)
	}
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	raw, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	if rerr != nil {
		return resp, nil
	}
	if problem := checkExchange(req, body, resp, raw); problem != "" {
		c.t.Errorf("OpenAPI: %s %s → %d: %s", req.Method, req.URL.Path, resp.StatusCode, problem)
	}
	return resp, nil
}

// checkExchange says what in the exchange the description does not
// allow, or "".
func checkExchange(req *http.Request, body []byte, resp *http.Response, raw []byte) string {
	router, err := apiSpec()
	if err != nil {
		return "the description does not load: " + err.Error()
	}
	// The description's server is the default address; tests listen
	// elsewhere.
	at := req.Clone(req.Context())
	at.URL.Scheme, at.URL.Host, at.Host = "http", "127.0.0.1:8080", "127.0.0.1:8080"
	at.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := router.FindRoute(at)
	if err != nil {
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			return "" // a path or method the gateway has not either: what the test meant
		}
		return "not described: " + err.Error()
	}
	in := &openapi3filter.RequestValidationInput{Request: at, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	if resp.StatusCode < 400 {
		// A request the gateway refused may well break the description:
		// that is what it was refused for. One it took must not.
		if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
			return "the request: " + err.Error()
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(raw)), Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		return "the response: " + err.Error() + "\n" + string(raw[:min(len(raw), 600)])
	}
	return ""
}
