package httpapi

import (
	"context"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Tracing (Options.TracerProvider; internal/tracing turns it on): a server
// span per request, with a child span per store operation. On the API it
// continues the caller's traceparent (the MCP server's own trace); on the
// public routes (/callback, /start/, the health checks) anyone may send
// one, so the span starts a trace of its own and only links the caller's:
// an anonymous caller can neither hide its requests (sampled=00) nor join
// them to someone else's trace. Spans are made here rather than by otelhttp, which
// records the path: the path holds the state. A span carries the method,
// the route pattern, the status, the outcome and the store operation,
// never a code, a state or a token.

const tracerName = "github.com/oauth-callback-server/oauth-callback-server/internal/httpapi"

// startRequestSpan starts the request's span, or returns r unchanged and a
// nil span when tracing is off.
func (s *server) startRequestSpan(r *http.Request) (*http.Request, trace.Span) {
	if s.tracer == nil {
		return r, nil
	}
	ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method))}
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		opts = append(opts, trace.WithNewRoot())
		if caller := trace.SpanContextFromContext(ctx); caller.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: caller}))
		}
	}
	ctx, span := s.tracer.Start(ctx, r.Method, opts...)
	return r.WithContext(ctx), span
}

// endRequestSpan names the span after its route, once routed, and ends it.
func endRequestSpan(span trace.Span, method, route string, status int, info *requestInfo) {
	if span == nil {
		return
	}
	span.SetName(method + " " + route)
	span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", status))
	for _, a := range info.attrs {
		if a.Key == "outcome" {
			span.SetAttributes(attribute.String("oauth_callback.outcome", a.Value.String()))
		}
	}
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}

// startStoreSpan starts a store operation's span; end it with its error.
func (s *server) startStoreSpan(ctx context.Context, op string) (context.Context, func(error)) {
	if s.tracer == nil {
		return ctx, func(error) {}
	}
	ctx, span := s.tracer.Start(ctx, "store "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("oauth_callback.store_operation", op)))
	return ctx, func(err error) {
		if err != nil {
			// The outcome's name, never the error's text (it may quote a key).
			span.SetAttributes(attribute.String("oauth_callback.store_outcome", outcomeOf(err).outcome))
		}
		span.End()
	}
}
