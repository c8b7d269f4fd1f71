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
	"github.com/oauth-callback-server/oauth-callback-server/internal/fake"
	"github.com/oauth-callback-server/oauth-callback-server/internal/httpapi"
)

func TestUnavailableStoreAnswers503Fast(t *testing.T) {
	const timeout = 50 * time.Millisecond
	// A store that never answers, like a Redis that stopped responding.
	f := newFixtureWithStore(t, &fake.Store{}, func(o *httpapi.Options) { o.StoreTimeout = timeout })
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
	store := memstore.New(callback.StoreConfig{TTL: time.Minute}, memstore.Config{MaxEntries: 1})
	t.Cleanup(func() { store.Close() })
	f := newFixtureWithStore(t, store)
	wantStatus(t, f.get(t, "/callback?code=c&state=one"), http.StatusOK)
	rec := f.get(t, "/callback?code=c&state=two")
	wantStatus(t, rec, http.StatusServiceUnavailable)
	if !strings.Contains(rec.Body.String(), "busy") {
		t.Errorf("page: %.300s", rec.Body)
	}
}

// A panicking store stands for a bug anywhere below the handlers.
func panicking(context.Context, callback.App, string) (callback.Callback, error) {
	panic("secret internal detail")
}

func TestPanicAnswers500WithoutInternals(t *testing.T) {
	f := newFixtureWithStore(t, &fake.Store{TakeFunc: panicking})
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

// A panic on a browser's route gets the error page, never JSON: the
// recovery answers through the outcome table like every other error.
func TestPanicOnTheCallbackGetsThePage(t *testing.T) {
	f := newFixtureWithStore(t, &fake.Store{PutFunc: func(context.Context, callback.Callback) (callback.Receipt, error) {
		panic("secret internal detail")
	}})
	rec := f.get(t, "/callback?code=c&state=s")
	wantStatus(t, rec, http.StatusInternalServerError)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || !strings.Contains(rec.Body.String(), "Something went wrong on our side") {
		t.Errorf("a panic on /callback answered %s: %.300s", ct, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "secret internal detail") {
		t.Errorf("page leaks the panic")
	}
}

// TestTheFullStoreWarningSaysWhatIsFull: the operator's warning names the
// part of the bound that is full and the setting that sizes it; it once
// said "raise OAUTH_CALLBACK_MAX_MEMORY" for a flood of small entries,
// which more memory does not stop.
func TestTheFullStoreWarningSaysWhatIsFull(t *testing.T) {
	for _, tt := range []struct {
		full *callback.FullError
		want []string
	}{
		{&callback.FullError{Part: callback.PartUnregistered}, []string{"nobody registered", "registered sign-ins go on", "OAUTH_CALLBACK_REQUIRE_REGISTRATION"}},
		{&callback.FullError{Part: callback.PartUnregistered, EntryFloor: 672}, []string{"many small entries", "OAUTH_CALLBACK_MAX_ENTRIES", "672"}},
		{&callback.FullError{Part: callback.PartRegistrations}, []string{"registrations", "OAUTH_CALLBACK_RATE_LIMIT_REGISTER"}},
		{&callback.FullError{Part: callback.PartApp, App: "mail"}, []string{"app mail", "memory_share", "other apps go on"}},
		{&callback.FullError{Part: callback.PartBudget}, []string{"OAUTH_CALLBACK_MAX_MEMORY"}},
		{&callback.FullError{Part: callback.PartEntries}, []string{"OAUTH_CALLBACK_MAX_ENTRIES"}},
		{&callback.FullError{Part: callback.PartRedisMemory}, []string{"maxmemory"}},
	} {
		t.Run(tt.full.Error(), func(t *testing.T) {
			f := newFixtureWithStore(t, &fake.Store{PutFunc: func(context.Context, callback.Callback) (callback.Receipt, error) {
				return callback.Receipt{}, fmt.Errorf("store: %w", tt.full)
			}})
			wantStatus(t, f.get(t, "/callback?code=c&state=s"), http.StatusServiceUnavailable)
			var warning string
			for _, line := range strings.Split(f.logs.String(), "\n") {
				if strings.Contains(line, `"msg":"the callback store is full`) {
					warning = line
				}
			}
			for _, word := range tt.want {
				if !strings.Contains(warning, word) {
					t.Errorf("the warning does not say %q: %s", word, warning)
				}
			}
		})
	}
}
