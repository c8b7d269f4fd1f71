package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/oauth-callback-server/oauth-callback-server/internal/tracing"
)

func TestOffWithoutAnEndpoint(t *testing.T) {
	tp, shutdown, err := tracing.Start(context.Background(), func(string) string { return "" }, "test")
	if err != nil || tp != nil {
		t.Fatalf("Start without OTEL_EXPORTER_OTLP_ENDPOINT: %v, %v; want off", tp, err)
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// With the standard variable set, spans reach an OTLP/HTTP endpoint.
func TestSpansReachTheOTLPEndpoint(t *testing.T) {
	var posts atomic.Int64
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
			posts.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL}
	tp, shutdown, err := tracing.Start(context.Background(), func(k string) string { return env[k] }, "test")
	if err != nil || tp == nil {
		t.Fatalf("Start: %v, %v", tp, err)
	}
	_, span := tp.Tracer("test").Start(context.Background(), "a span")
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if posts.Load() == 0 {
		t.Fatal("no span reached the OTLP endpoint")
	}
}
