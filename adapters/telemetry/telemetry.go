// Package telemetry is Kelisim's OpenTelemetry tracing: spans for the
// HTTP requests the gateway answers, the statements it sends PostgreSQL
// and the calls it makes (SMS provider, state registry, partners'
// webhooks, push notices), exported over OTLP/HTTP when
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is
// set, and off otherwise, at no cost.
//
// A span says what was done, never to whom: routes as their patterns, a
// call's host and method but not its URL, a statement's verb and table but
// not its text or arguments. No IIN, phone, code, token or secret is an
// attribute.
package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// on is whether tracing is on in this process. Tracing is the process's,
// as OpenTelemetry's global provider is: one gateway to a process, as in
// production (tests that run several turn it on in one of them only).
var on atomic.Bool

// Enabled reports whether spans are made and exported.
func Enabled() bool { return on.Load() }

// Tracer is Kelisim's tracer.
func Tracer() trace.Tracer { return otel.Tracer("github.com/kelisim/kelisim") }

// Config says where traces go: Endpoint is OTEL_EXPORTER_OTLP_ENDPOINT
// (the collector's base URL; traces go to /v1/traces under it),
// TracesEndpoint OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (the whole URL; it
// wins), Service OTEL_SERVICE_NAME (default kelisim).
type Config struct {
	Endpoint, TracesEndpoint, Service, Version string
}

// On reports whether the configuration turns tracing on.
func (c Config) On() bool { return c.Endpoint != "" || c.TracesEndpoint != "" }

// Start turns tracing on when the configuration names an OTLP endpoint,
// and returns what flushes the spans and turns it off again. Without one
// it does nothing.
func Start(ctx context.Context, cfg Config) (stop func(context.Context) error, err error) {
	var opt otlptracehttp.Option
	switch {
	case cfg.TracesEndpoint != "":
		opt = otlptracehttp.WithEndpointURL(cfg.TracesEndpoint)
	case cfg.Endpoint != "":
		opt = otlptracehttp.WithEndpointURL(strings.TrimSuffix(cfg.Endpoint, "/") + "/v1/traces")
	default:
		return func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx, opt)
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	name := cfg.Service
	if name == "" {
		name = "kelisim"
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(resource.NewSchemaless(
		attribute.String("service.name", name), attribute.String("service.version", cfg.Version))))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	on.Store(true)
	var once sync.Once
	return func(ctx context.Context) error {
		once.Do(func() {
			on.Store(false)
			err = tp.Shutdown(ctx)
			otel.SetTracerProvider(noop.NewTracerProvider())
		})
		return err
	}, nil
}

// Transport makes a client span of each request sent through next, named
// for what is called ("sms", "registry", "webhook", "push"), and passes the
// trace on in traceparent. A nil next is a transport of its own, as
// net/http's default but keeping up to IdlePerHost idle connections to a
// host.
func Transport(next http.RoundTripper, called string) http.RoundTripper {
	if next == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = IdlePerHost
		next = t
	}
	return transport{next: next, called: called}
}

// IdlePerHost is how many idle connections an outgoing transport keeps to
// one host: about as many as a busy replica has calls to it at once.
// net/http's default keeps 2, so a burst of SMS or pushes dialled (and
// over TLS shook hands with) the provider anew for nearly every call.
const IdlePerHost = 64

type transport struct {
	next   http.RoundTripper
	called string
}

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !Enabled() {
		return t.next.RoundTrip(req)
	}
	ctx, span := Tracer().Start(req.Context(), t.called+" "+req.Method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("peer.service", t.called), attribute.String("http.request.method", req.Method),
			attribute.String("server.address", req.URL.Hostname())))
	defer span.End()
	req = req.Clone(ctx)
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		span.SetStatus(codes.Error, "no answer")
		return resp, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 400 {
		span.SetStatus(codes.Error, http.StatusText(resp.StatusCode))
	}
	return resp, nil
}

// LogHandler adds the trace and span ids of the context to every log
// record made within a span.
type LogHandler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return LogHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h LogHandler) WithGroup(name string) slog.Handler { return LogHandler{h.Handler.WithGroup(name)} }
