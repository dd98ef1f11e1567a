package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/kelisim/kelisim/adapters/httpapi"
)

// collector stands in for an OpenTelemetry collector: it takes OTLP/HTTP
// exports (protobuf) and keeps their spans, and every attribute value it
// was sent.
type collector struct {
	mu     sync.Mutex
	spans  []*tracepb.Span
	values []string
}

func newCollector(t *testing.T) (*collector, string) {
	c := &collector{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(body, &req) != nil {
			t.Errorf("the collector got %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, a := range rs.GetResource().GetAttributes() {
				c.values = append(c.values, a.GetValue().String())
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					c.spans = append(c.spans, s)
					c.values = append(c.values, s.Name)
					for _, a := range s.Attributes {
						c.values = append(c.values, a.GetValue().String())
					}
				}
			}
		}
		c.mu.Unlock()
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return c, srv.URL
}

func (c *collector) all() ([]*tracepb.Span, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.spans), slices.Clone(c.values)
}

// traceparent sends every request in one trace, as a partner's app that
// traces its calls does.
type traceparent struct {
	id   string
	next http.RoundTripper
}

func (p traceparent) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Traceparent", "00-"+p.id+"-00f067aa0ba902b7-01")
	return p.next.RoundTrip(req)
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, a consent flow that a partner's
// app traces is one trace: a server span for each of its requests, named
// for the route, with the statements each sent PostgreSQL and the SMS
// that carried the code under them; the push to the partner's webhook is
// traced too. No span carries the citizen's IIN or phone, the code, a
// token or a secret, and every request's log line names its trace.
func TestConsentFlowIsOneTrace(t *testing.T) {
	col, endpoint := newCollector(t)
	hook, hookURL := newWebhook(t, 0)
	g := startWith(t, options{db: pgtestURL(t), consent: httpapi.ConsentRedirect{},
		env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}})
	p := g.onboard(t, map[string]any{"delivery": "push", "webhook_url": hookURL})
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	g.http.Transport = traceparent{traceID, g.http.Transport}
	b := newBrowser(t, g)
	b.client.Transport = traceparent{traceID, http.DefaultTransport}
	tok := consentAsFrom(t, g, b, p, "openid documents:id_card")
	hook.waitAttempts(t, 1)
	g.stopped() // flushes the spans

	var spans []*tracepb.Span
	var values []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if spans, values = col.all(); len(spans) > 0 {
			break
		}
	}
	byID := map[string]*tracepb.Span{}
	inTrace := map[string]int{}
	for _, s := range spans {
		byID[string(s.SpanId)] = s
	}
	var webhook bool
	for _, s := range spans {
		if s.Name == "webhook POST" && s.Kind == tracepb.Span_SPAN_KIND_CLIENT {
			webhook = true
		}
		if strings.EqualFold(bytesHex(s.TraceId), traceID) {
			name := s.Name
			if parent := byID[string(s.ParentSpanId)]; strings.HasPrefix(name, "db ") || name == "sms POST" {
				if parent == nil {
					t.Errorf("span %s has no parent in the trace", name)
					continue
				}
				name += " under " + parent.Name
			}
			inTrace[name]++
		}
	}
	for _, want := range []string{"GET /oauth2/auth", "POST /consent/:id", "GET /consent/:id/otp", "POST /consent/:id/otp", "POST /oauth2/token",
		"sms POST under POST /consent/:id"} {
		if inTrace[want] == 0 {
			t.Errorf("the trace has no span %q: %v", want, inTrace)
		}
	}
	dbSpans := 0
	for name, n := range inTrace {
		if strings.HasPrefix(name, "db ") {
			dbSpans += n
		}
	}
	if dbSpans < 5 {
		t.Errorf("the trace has %d statements' spans: %v", dbSpans, inTrace)
	}
	if !webhook {
		t.Error("no span of the push to the partner's webhook")
	}
	secret := []string{aidarIIN, strings.TrimPrefix(aidarPhone, "+"), tok["access_token"].(string), p.secret}
	for _, v := range values {
		for _, s := range secret {
			if strings.Contains(v, s) {
				t.Errorf("a span carries %q: %s", s[:4]+"…", v)
			}
		}
	}
	lines := 0
	for _, line := range strings.Split(g.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"request"`) && strings.Contains(line, `"route":"/consent/:id/otp"`) {
			lines++
			if !strings.Contains(line, `"trace_id":"`+traceID+`"`) || !strings.Contains(line, `"request_id":"`) {
				t.Errorf("a request's log line without its trace and request ids: %s", line)
			}
		}
	}
	if lines == 0 {
		t.Errorf("no request log line of the code page:\n%s", g.logs.String())
	}
}

func bytesHex(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
