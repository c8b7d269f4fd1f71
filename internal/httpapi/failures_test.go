package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/memstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/httpapi"
)

// hangingStore never answers until its context ends, like a Redis that
// stopped responding; it then reports itself unavailable, as redisstore does.
type hangingStore struct{}

func (hangingStore) wait(ctx context.Context) error {
	<-ctx.Done()
	return fmt.Errorf("%w: %w", callback.ErrUnavailable, ctx.Err())
}
func (s hangingStore) Put(ctx context.Context, _ callback.Callback) (callback.Receipt, error) {
	return callback.Receipt{}, s.wait(ctx)
}
func (s hangingStore) Register(ctx context.Context, _ string, _ callback.Registration) error {
	return s.wait(ctx)
}
func (s hangingStore) Start(ctx context.Context, _ string) (string, callback.Link, bool, error) {
	return "", callback.Link{}, false, s.wait(ctx)
}
func (s hangingStore) Status(ctx context.Context, _ string) (callback.Status, error) {
	return callback.Status{}, s.wait(ctx)
}
func (s hangingStore) Cancel(ctx context.Context, _ string) error { return s.wait(ctx) }
func (s hangingStore) Take(ctx context.Context, _ string) (callback.Callback, error) {
	return callback.Callback{}, s.wait(ctx)
}
func (s hangingStore) Pending(ctx context.Context) (int64, error) { return 0, s.wait(ctx) }
func (s hangingStore) Ping(ctx context.Context) error             { return s.wait(ctx) }
func (hangingStore) Close() error                                 { return nil }

func TestUnavailableStoreAnswers503Fast(t *testing.T) {
	const timeout = 50 * time.Millisecond
	f := newFixtureWithStore(t, hangingStore{}, func(o *httpapi.Options) { o.StoreTimeout = timeout })
	tests := []struct {
		target   string
		wantPage bool
	}{
		{"/callback?code=c&state=s", true},
		{"/api/callback/s", false},
		{"/health", false},
		{"/readyz", false},
	}
	for _, tt := range tests {
		start := time.Now()
		rec := f.get(t, tt.target)
		elapsed := time.Since(start)
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%s: got %d, want 503", tt.target, rec.Code)
		}
		// Bounded by the store timeout, not by the client's patience.
		if elapsed > 2*time.Second {
			t.Errorf("%s took %v with a %v store timeout", tt.target, elapsed, timeout)
		}
		if rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s: no Retry-After", tt.target)
		}
		isPage := strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html")
		if isPage != tt.wantPage {
			t.Errorf("%s: Content-Type %q", tt.target, rec.Header().Get("Content-Type"))
		}
		if strings.Contains(rec.Body.String(), "context deadline") {
			t.Errorf("%s leaks internals: %s", tt.target, rec.Body)
		}
	}
	wantStatus(t, f.get(t, "/healthz"), http.StatusOK)
}

func TestFullMemoryStoreAnswers503Page(t *testing.T) {
	store := memstore.New(memstore.Options{TTL: time.Minute, MaxEntries: 1})
	t.Cleanup(func() { store.Close() })
	f := newFixtureWithStore(t, store)
	wantStatus(t, f.get(t, "/callback?code=c&state=one"), http.StatusOK)
	rec := f.get(t, "/callback?code=c&state=two")
	wantStatus(t, rec, http.StatusServiceUnavailable)
	if !strings.Contains(rec.Body.String(), "busy") {
		t.Errorf("page: %.300s", rec.Body)
	}
}

// panickingStore stands for a bug anywhere below the handlers.
type panickingStore struct{ hangingStore }

func (panickingStore) Take(context.Context, string) (callback.Callback, error) {
	panic("secret internal detail")
}

func TestPanicAnswers500WithoutInternals(t *testing.T) {
	f := newFixtureWithStore(t, panickingStore{})
	rec := f.get(t, "/api/callback/s")
	wantStatus(t, rec, http.StatusInternalServerError)
	if strings.Contains(rec.Body.String(), "secret internal detail") {
		t.Errorf("body leaks the panic: %s", rec.Body)
	}
	if !strings.Contains(f.logs.String(), "secret internal detail") {
		t.Error("the panic is not logged for the operator")
	}
	// The server goes on serving.
	wantStatus(t, f.get(t, "/healthz"), http.StatusOK)
}

// panickingPutStore panics on the callback's route.
type panickingPutStore struct{ hangingStore }

func (panickingPutStore) Put(context.Context, callback.Callback) (callback.Receipt, error) {
	panic("secret internal detail")
}

// A panic on a browser's route gets the error page, never JSON: the
// recovery answers through the outcome table like every other error.
func TestPanicOnTheCallbackGetsThePage(t *testing.T) {
	f := newFixtureWithStore(t, panickingPutStore{})
	rec := f.get(t, "/callback?code=c&state=s")
	wantStatus(t, rec, http.StatusInternalServerError)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || !strings.Contains(rec.Body.String(), "Something went wrong on our side") {
		t.Errorf("a panic on /callback answered %s: %.300s", ct, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "secret internal detail") {
		t.Errorf("page leaks the panic")
	}
}
