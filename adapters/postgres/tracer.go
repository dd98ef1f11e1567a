package postgres

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kelisim/kelisim/adapters/telemetry"
)

// tracer times every statement, named by its verb and table ("update
// oauth_records"), a small fixed set since all SQL lives in this package.
type tracer struct {
	observe   func(ctx context.Context, op string, d time.Duration)
	statement func(sql string, args []any) // when set, told of every statement
	names     sync.Map                     // SQL text → operation name
}

type traceKey struct{}

type traceStart struct {
	op   string
	at   time.Time
	span trace.Span // nil unless tracing is on
}

var tableRE = regexp.MustCompile(`(?i)\b(?:from|into|update)\s+([a-z_]+)`)

func (t *tracer) operation(sql string) string {
	if op, ok := t.names.Load(sql); ok {
		return op.(string)
	}
	verb, _, _ := strings.Cut(strings.TrimSpace(sql), " ")
	op := strings.ToLower(verb)
	// The first table named; a batch's unnest of its keys is not one.
	for _, m := range tableRE.FindAllStringSubmatch(sql, -1) {
		if !strings.EqualFold(m[1], "unnest") {
			op += " " + strings.ToLower(m[1])
			break
		}
	}
	t.names.Store(sql, op)
	return op
}

func (t *tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if t.statement != nil {
		args := data.Args
		if len(args) > 0 {
			if _, mode := args[0].(pgx.QueryExecMode); mode {
				args = args[1:] // how it is sent, not what
			}
		}
		t.statement(data.SQL, args)
	}
	st := traceStart{op: t.operation(data.SQL), at: time.Now()}
	if telemetry.Enabled() {
		// The statement's verb and table; never its text or arguments.
		verb, table, _ := strings.Cut(st.op, " ")
		ctx, st.span = telemetry.Tracer().Start(ctx, "db "+st.op, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("db.system.name", "postgresql"), attribute.String("db.operation.name", verb),
				attribute.String("db.collection.name", table)))
	}
	return context.WithValue(ctx, traceKey{}, st)
}

func (t *tracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	s, ok := ctx.Value(traceKey{}).(traceStart)
	if !ok {
		return
	}
	if t.observe != nil {
		t.observe(ctx, s.op, time.Since(s.at))
	}
	if s.span != nil {
		if data.Err != nil && !errors.Is(data.Err, pgx.ErrNoRows) {
			s.span.SetStatus(codes.Error, "statement failed") // not its message, which may quote a value
		}
		s.span.End()
	}
}

// A batch sends several statements in one round trip; each is counted
// under its own operation, timed from the start of the batch.

type batchKey struct{}

func (t *tracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return context.WithValue(ctx, batchKey{}, time.Now())
}

func (t *tracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	if t.statement != nil {
		args := data.Args
		if len(args) > 0 {
			if _, mode := args[0].(pgx.QueryExecMode); mode {
				args = args[1:] // how it is sent, not what
			}
		}
		t.statement(data.SQL, args)
	}
	if at, ok := ctx.Value(batchKey{}).(time.Time); ok && t.observe != nil {
		t.observe(ctx, t.operation(data.SQL), time.Since(at))
	}
}

func (t *tracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}
