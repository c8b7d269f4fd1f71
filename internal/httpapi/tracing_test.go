package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/oauth-callback-server/oauth-callback-server/internal/httpapi"
)

// Tracing continues the caller's trace, shows the take and its store
// operations, and records no code, state or token.
func TestTracingContinuesTheCallersTraceAndRecordsNoSecrets(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	f := newFixture(t, withLongPoll(time.Minute, 10), func(o *httpapi.Options) {
		o.TracerProvider = tp
		o.Apps = tokenApps(t, goodToken)
	})
	const (
		state       = "st-traced-secret-state-0123"
		code        = "the-traced-secret-code"
		traceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
		traceparent = "00-" + traceID + "-00f067aa0ba902b7-01"
	)
	wantStatus(t, f.get(t, "/callback?code="+code+"&state="+state), http.StatusOK)
	rec := f.do(t, http.MethodGet, "/api/callback/"+state, nil, "Authorization", "Bearer "+goodToken, "traceparent", traceparent, "Prefer", "wait=5")
	wantStatus(t, rec, http.StatusOK)

	spans := recorder.Ended()
	var take sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == "GET /api/callback/{state}" {
			take = s
		}
		var text strings.Builder
		text.WriteString(s.Name())
		for _, a := range s.Attributes() {
			text.WriteString(" " + string(a.Key) + "=" + a.Value.String())
		}
		for _, e := range s.Events() {
			text.WriteString(" " + e.Name)
			for _, a := range e.Attributes {
				text.WriteString(" " + a.Value.String())
			}
		}
		for _, secret := range []string{state, code, goodToken} {
			if strings.Contains(text.String(), secret) {
				t.Errorf("span %q records a secret: %s", s.Name(), text.String())
			}
		}
	}
	if take == nil {
		t.Fatalf("no span for the take; spans: %v", names(spans))
	}
	if got := take.SpanContext().TraceID().String(); got != traceID || take.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Fatalf("the take's span is in trace %s under %s, want the caller's %s", got, take.Parent().SpanID(), traceID)
	}
	var storeTake bool
	for _, s := range spans {
		if s.Name() == "store take" && s.Parent().SpanID() == take.SpanContext().SpanID() {
			storeTake = true
		}
	}
	if !storeTake {
		t.Errorf("no store take span under the take; spans: %v", names(spans))
	}
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}

// Hostile traffic, round 3 (info): an anonymous /callback caller steered
// tracing with traceparent: sampled=00 hid its spans, and any trace id
// could be joined. On public routes the span is a root of its own, linked
// to what the caller sent.
func TestPublicRoutesStartTracesOfTheirOwn(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	f := newFixture(t, func(o *httpapi.Options) { o.TracerProvider = tp })
	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	unsampled := "00-" + callerTrace + "-00f067aa0ba902b7-00"
	wantStatus(t, f.do(t, http.MethodGet, "/callback?code=c&state=st-traced", nil, "traceparent", unsampled), http.StatusOK)
	var callback sdktrace.ReadOnlySpan
	for _, s := range recorder.Ended() {
		if s.Name() == "GET /callback" {
			callback = s
		}
	}
	if callback == nil {
		t.Fatalf("the callback's span was not recorded (the caller's sampled=00 hid it); spans: %v", names(recorder.Ended()))
	}
	if got := callback.SpanContext().TraceID().String(); got == callerTrace || callback.Parent().IsValid() {
		t.Errorf("the callback's span joined the caller's trace %s (parent %v)", got, callback.Parent())
	}
	if links := callback.Links(); len(links) != 1 || links[0].SpanContext.TraceID().String() != callerTrace {
		t.Errorf("links %+v, want one to the caller's span", links)
	}
}
