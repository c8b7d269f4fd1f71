package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/memstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/httpapi"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/fake"
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

// errorCase is a real request that meets one row of the error table, and
// its answer as docs/api.md gives it.
type errorCase struct {
	row   error // the row, by its error; nil: the internal error's
	name  string
	opts  []func(*httpapi.Options)
	store func(t *testing.T) callback.Store // nil: the fixture's memory store
	// send makes whatever requests lead up to the row, and returns the
	// answer to the one that meets it.
	send func(t *testing.T, f *fixture) *httptest.ResponseRecorder
	want documentedAnswer
}

// documentedAnswer is what docs/api.md says the answer is. The fixture
// holds every answer to docs/openapi.yaml besides.
type documentedAnswer struct {
	status     int
	reason     string // a JSON error's; "" for a page
	message    string // a JSON error's, where docs/api.md quotes it
	page       string // words on the page, where docs/api.md quotes them
	retryAfter string // exact, where docs/api.md gives the seconds
	header     []string
	callbacks  string // the oauth_callback_callbacks_received_total outcome it counts, on /callback
	took       string // the oauth_callback_takes_total code it counts, on a take
}

// linkState is a state registered with a sign-in link: long enough that
// registerLink's check (the link's id never contains it) holds.
const linkState = "state-of-a-sign-in-link"

func errorCases(t *testing.T) []errorCase {
	apps := tokenApps(t, goodToken)
	withTokens := func(o *httpapi.Options) { o.Apps = apps }
	form := func(t *testing.T, f *fixture, body, contentType string) *httptest.ResponseRecorder {
		return f.do(t, http.MethodPost, "/callback", strings.NewReader(body), "Content-Type", contentType)
	}
	put := func(t *testing.T, f *fixture, state, body string) *httptest.ResponseRecorder {
		return f.do(t, http.MethodPut, "/api/callback/"+state, strings.NewReader(body), "Content-Type", "application/json")
	}
	takeAnswers := func(err error) func(t *testing.T) callback.Store {
		return func(*testing.T) callback.Store {
			return &fake.Store{TakeFunc: func(context.Context, callback.App, string) (callback.Callback, error) {
				return callback.Callback{}, fmt.Errorf("store: %w", err)
			}}
		}
	}
	putAnswers := func(err error) func(t *testing.T) callback.Store {
		return func(*testing.T) callback.Store {
			return &fake.Store{PutFunc: func(context.Context, callback.Callback) (callback.Receipt, error) {
				return callback.Receipt{}, fmt.Errorf("store: %w", err)
			}}
		}
	}
	memory := func(cfg callback.StoreConfig, mem memstore.Config) func(t *testing.T) callback.Store {
		return func(t *testing.T) callback.Store {
			s := memstore.New(cfg, mem)
			t.Cleanup(func() { s.Close() })
			return s
		}
	}
	hanging := func(*testing.T) callback.Store { return &fake.Store{} } // a Redis that stopped answering
	storeTimeout := func(o *httpapi.Options) { o.StoreTimeout = time.Second }
	return []errorCase{
		// The store's errors, on the memory store wherever it can get there.
		{row: callback.ErrNotFound, name: "a take of a state never received",
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder { return f.get(t, "/api/callback/never") },
			want: documentedAnswer{status: 404, reason: "not_found", message: "Callback not found or expired", took: "404"}},
		{row: callback.ErrAlreadyTaken, name: "a second take",
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				f.get(t, "/callback?code=c&state=s")
				wantStatus(t, f.get(t, "/api/callback/s"), http.StatusOK)
				return f.get(t, "/api/callback/s")
			},
			want: documentedAnswer{status: 410, reason: "already_retrieved", message: "Callback already retrieved", took: "410"}},
		{row: callback.ErrExists, name: "the same callback again",
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				f.get(t, "/callback?code=c&state=s")
				return f.get(t, "/callback?code=c&state=s")
			},
			want: documentedAnswer{status: 409, page: "already received", callbacks: "duplicate"}},
		{row: callback.ErrExists, name: "a registration again",
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				wantStatus(t, put(t, f, "s", ""), http.StatusCreated)
				return put(t, f, "s", "")
			},
			want: documentedAnswer{status: 409, reason: "duplicate"}},
		{row: callback.ErrConflict, name: "a different callback while the first is pending",
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				f.get(t, "/callback?code=first&state=s")
				return f.get(t, "/callback?code=second&state=s")
			},
			want: documentedAnswer{status: 409, page: "interrupted", callbacks: "conflict"}},
		{row: callback.ErrConflict, name: "a take of a conflicted state",
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				f.get(t, "/callback?code=first&state=s")
				f.get(t, "/callback?code=second&state=s")
				return f.get(t, "/api/callback/s")
			},
			want: documentedAnswer{status: 410, reason: "conflict", message: "Conflicting callbacks received for this state; start the sign-in again", took: "410"}},
		{row: callback.ErrConflictAfterTake, name: "a different callback after the take",
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				f.get(t, "/callback?code=first&state=s")
				wantStatus(t, f.get(t, "/api/callback/s"), http.StatusOK)
				return f.get(t, "/callback?code=second&state=s")
			},
			want: documentedAnswer{status: 409, page: "already used", callbacks: "conflict"}},
		{row: callback.ErrCancelled, name: "a callback after a cancel",
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				wantStatus(t, put(t, f, "s", ""), http.StatusCreated)
				wantStatus(t, f.do(t, http.MethodDelete, "/api/callback/s", nil), http.StatusNoContent)
				return f.get(t, "/callback?code=c&state=s")
			},
			want: documentedAnswer{status: 410, page: "cancelled", callbacks: "cancelled"}},
		{row: callback.ErrCancelled, name: "a take after a cancel",
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				wantStatus(t, put(t, f, "s", ""), http.StatusCreated)
				wantStatus(t, f.do(t, http.MethodDelete, "/api/callback/s", nil), http.StatusNoContent)
				return f.get(t, "/api/callback/s")
			},
			want: documentedAnswer{status: 410, reason: "cancelled", took: "410"}},
		{row: callback.ErrUnbound, name: "a sign-in link's callback from a browser without its cookie", opts: []func(*httpapi.Options){withLinks},
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				registerLink(t, f, linkState, "")
				return f.get(t, "/callback?code=c&state="+linkState)
			},
			want: documentedAnswer{status: 403, page: "not started in this browser", callbacks: "unbound"}},
		{row: callback.ErrLinkExpired, name: "the opener's callback after its link expired", opts: []func(*httpapi.Options){withLinks},
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				opener := f.press(t, registerLink(t, f, linkState, ""), nil).Result().Cookies()
				time.Sleep(ttl + time.Second) // in the test's bubble: the registration is over, its marker is not
				return f.open(t, http.MethodGet, "/callback?code=c&state="+linkState, "", opener)
			},
			want: documentedAnswer{status: 410, page: "Sign-in link expired", callbacks: "link_expired"}},
		{row: callback.ErrLinkExpired, name: "a take after the link expired", opts: []func(*httpapi.Options){withLinks},
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				registerLink(t, f, linkState, "")
				time.Sleep(ttl + time.Second)
				return f.get(t, "/api/callback/"+linkState)
			},
			want: documentedAnswer{status: 410, reason: "link_expired", took: "410"}},
		{row: callback.ErrFull, name: "a callback into a full store", store: memory(callback.StoreConfig{TTL: ttl}, memstore.Config{MaxEntries: 1}),
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				wantStatus(t, f.get(t, "/callback?code=c&state=one"), http.StatusOK)
				return f.get(t, "/callback?code=c&state=two")
			},
			want: documentedAnswer{status: 503, page: "busy", retryAfter: "60", callbacks: "store_full"}},
		{row: callback.ErrFull, name: "a registration into a full store", store: memory(callback.StoreConfig{TTL: ttl}, memstore.Config{MaxEntries: 1}),
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				wantStatus(t, f.get(t, "/callback?code=c&state=one"), http.StatusOK)
				return put(t, f, "two", "")
			},
			want: documentedAnswer{status: 503, reason: "store_full", retryAfter: "60"}},
		{row: callback.ErrUnavailable, name: "a callback while the store hangs", store: hanging, opts: []func(*httpapi.Options){storeTimeout},
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder { return f.get(t, "/callback?code=c&state=s") },
			want: documentedAnswer{status: 503, callbacks: "store_unavailable"}},
		{row: callback.ErrUnavailable, name: "a take while the store hangs", store: hanging, opts: []func(*httpapi.Options){storeTimeout},
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder { return f.get(t, "/api/callback/s") },
			want: documentedAnswer{status: 503, reason: "store_unavailable", took: "503"}},
		{row: callback.ErrNotReplicated, name: "a take the replicas did not acknowledge", store: takeAnswers(callback.ErrNotReplicated),
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder { return f.get(t, "/api/callback/s") },
			want: documentedAnswer{status: 503, reason: "not_replicated", took: "503"}},
		{row: callback.ErrNotReplicated, name: "a callback the replicas did not acknowledge", store: putAnswers(callback.ErrNotReplicated),
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder { return f.get(t, "/callback?code=c&state=s") },
			want: documentedAnswer{status: 503, callbacks: "not_replicated"}},
		{row: callback.ErrNotRegistered, name: "a callback nobody registered, with registration required",
			store: memory(callback.StoreConfig{TTL: ttl, RequireRegistration: true}, memstore.Config{}),
			send:  func(t *testing.T, f *fixture) *httptest.ResponseRecorder { return f.get(t, "/callback?code=c&state=s") },
			want:  documentedAnswer{status: 404, page: "unknown or has expired", callbacks: "not_registered"}},
		{row: callback.ErrIssuerMismatch, name: "a callback from another issuer than the registration's",
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				wantStatus(t, put(t, f, "s", `{"issuer":"https://login.example.com/tenant/v2.0"}`), http.StatusCreated)
				return f.get(t, "/callback?code=c&state=s&iss="+url.QueryEscape("https://evil.example.com/"))
			},
			want: documentedAnswer{status: 400, page: "from the wrong provider", callbacks: "issuer_mismatch"}},
		{row: callback.ErrUnreadable, name: "a take of a callback written under another key", store: takeAnswers(callback.ErrUnreadable),
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder { return f.get(t, "/api/callback/s") },
			want: documentedAnswer{status: 404, reason: "not_found", message: "Callback not found or expired", took: "404"}},

		// The request's own.
		{row: httpapi.ErrInvalid, name: "a callback without state",
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder { return f.get(t, "/callback?code=c") },
			want: documentedAnswer{status: 400, page: "no state", callbacks: "invalid"}},
		{row: httpapi.ErrInvalid, name: "a malformed wait",
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				return f.get(t, "/api/callback/s?wait=soon")
			},
			want: documentedAnswer{status: 400, reason: "invalid_request"}},
		{row: httpapi.ErrTooLarge, name: "a form over 64 KiB",
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				return form(t, f, "state=s&code="+strings.Repeat("c", 64<<10), "application/x-www-form-urlencoded")
			},
			want: documentedAnswer{status: 413, callbacks: "invalid"}},
		{row: httpapi.ErrTooLarge, name: "a registration body over 16 KiB",
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				return put(t, f, "s", `{"metadata":"`+strings.Repeat("m", 16<<10)+`"}`)
			},
			want: documentedAnswer{status: 413, reason: "too_large"}},
		{row: httpapi.ErrURITooLong, name: "a query over 32 KiB",
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				return f.get(t, "/callback?state=s&code=c&x="+strings.Repeat("x", 32<<10))
			},
			want: documentedAnswer{status: 414, callbacks: "invalid"}},
		{row: httpapi.ErrUnsupportedMedia, name: "a callback posted as JSON",
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				return form(t, f, `{"state":"s"}`, "application/json")
			},
			want: documentedAnswer{status: 415, callbacks: "invalid"}},
		{row: httpapi.ErrUnsupportedMedia, name: "a registration as text",
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				return f.do(t, http.MethodPut, "/api/callback/s", strings.NewReader(`{"ttl":"5m"}`), "Content-Type", "text/plain")
			},
			want: documentedAnswer{status: 415, reason: "unsupported_media_type"}},
		{row: httpapi.ErrTokenMissing, name: "the API without a token", opts: []func(*httpapi.Options){withTokens},
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder { return f.get(t, "/api/callback/s") },
			want: documentedAnswer{status: 401, reason: "unauthorized", header: []string{"WWW-Authenticate", "Bearer"}}},
		{row: httpapi.ErrTokenInvalid, name: "the API with a wrong token", opts: []func(*httpapi.Options){withTokens},
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				return f.do(t, http.MethodGet, "/api/callback/s", nil, "Authorization", "Bearer not-the-token-0123456789")
			},
			want: documentedAnswer{status: 401, reason: "unauthorized", header: []string{"WWW-Authenticate", "Bearer"}}},
		{row: httpapi.ErrRateLimited, name: "wrong tokens past the limit",
			opts: []func(*httpapi.Options){withTokens, func(o *httpapi.Options) { o.RateLimits.API = 1 }},
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				f.do(t, http.MethodGet, "/api/callback/s", nil, "Authorization", "Bearer not-the-token-0123456789")
				return f.do(t, http.MethodGet, "/api/callback/s", nil, "Authorization", "Bearer not-the-token-0123456789")
			},
			want: documentedAnswer{status: 429, reason: "rate_limited"}},
		{row: httpapi.ErrRateLimited, name: "the API past its limit", opts: []func(*httpapi.Options){func(o *httpapi.Options) { o.RateLimits.API = 1 }},
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				f.get(t, "/api/callback/s")
				return f.get(t, "/api/callback/s")
			},
			want: documentedAnswer{status: 429, reason: "rate_limited"}},
		{row: httpapi.ErrRateLimited, name: "callbacks past their limit", opts: []func(*httpapi.Options){func(o *httpapi.Options) { o.RateLimits.Callback = 1 }},
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				f.get(t, "/callback?code=c&state=one")
				return f.get(t, "/callback?code=c&state=two")
			},
			want: documentedAnswer{status: 429, callbacks: "rate_limited"}},
		{row: httpapi.ErrNoRoute, name: "anything else",
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder { return f.get(t, "/nowhere") },
			want: documentedAnswer{status: 404, reason: "not_found"}},
		{row: httpapi.ErrMethodNotAllowed, name: "a method /callback does not have",
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				return f.do(t, http.MethodPut, "/callback", nil)
			},
			want: documentedAnswer{status: 405, reason: "method_not_allowed", header: []string{"Allow", "GET"}}},
		{row: httpapi.ErrLinkUnknown, name: "an id that cannot be a link's", opts: []func(*httpapi.Options){withLinks},
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder { return f.get(t, "/start/not-a-link") },
			want: documentedAnswer{status: 404}},
		{row: httpapi.ErrLinkUnknown, name: "a press of a cancelled link", opts: []func(*httpapi.Options){withLinks},
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				start := registerLink(t, f, linkState, "")
				wantStatus(t, f.do(t, http.MethodDelete, "/api/callback/"+linkState, nil), http.StatusNoContent)
				return f.press(t, start, nil)
			},
			want: documentedAnswer{status: 404}},
		{row: httpapi.ErrLinkElsewhere, name: "a press from another browser than the first", opts: []func(*httpapi.Options){withLinks},
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				start := registerLink(t, f, linkState, "")
				wantStatus(t, f.press(t, start, nil), http.StatusSeeOther)
				return f.press(t, start, nil)
			},
			want: documentedAnswer{status: 403}},
		{row: httpapi.ErrLinkCrossSite, name: "a press sent from another site's page", opts: []func(*httpapi.Options){withLinks},
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder {
				return f.openWith(t, http.MethodPost, registerLink(t, f, linkState, ""), nil, "Sec-Fetch-Site", "cross-site")
			},
			want: documentedAnswer{status: 403}},
		{row: nil, name: "a store error nobody knows", store: takeAnswers(errors.New("disk on fire")),
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder { return f.get(t, "/api/callback/s") },
			want: documentedAnswer{status: 500, reason: "internal_error", took: "500"}},
		{row: nil, name: "a panic on the callback", store: func(*testing.T) callback.Store {
			return &fake.Store{PutFunc: func(context.Context, callback.Callback) (callback.Receipt, error) { panic("bug") }}
		},
			send: func(t *testing.T, f *fixture) *httptest.ResponseRecorder { return f.get(t, "/callback?code=c&state=s") },
			want: documentedAnswer{status: 500, callbacks: "internal_error"}},
	}
}

// TestEveryErrorRowIsReachedAndAnsweredAsDocumented walks the error table:
// every row is met by a real request (a case below; a new row without one
// fails here), and the answer is the one docs/api.md gives: its status, a
// JSON error with status "error", message and reason on the API or the
// hardened page on a browser's route, Retry-After on every 429 and 503 (the
// seconds where the docs give them), and the outcome the callbacks metric
// counts. The request's log line names the row's outcome, which proves
// which row answered.
func TestEveryErrorRowIsReachedAndAnsweredAsDocumented(t *testing.T) {
	cases := errorCases(t)
	for _, row := range httpapi.ErrorRows() {
		if !slices.ContainsFunc(cases, func(c errorCase) bool { return c.row == row.Err }) {
			t.Errorf("no request reaches the row of %v", row.Err)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testErrorCase(t, c) })
		})
	}
}

func testErrorCase(t *testing.T, c errorCase) {
	i := slices.IndexFunc(httpapi.ErrorRows(), func(r httpapi.ErrorRow) bool { return r.Err == c.row })
	if i < 0 {
		t.Fatalf("no row for %v", c.row)
	}
	row := httpapi.ErrorRows()[i]
	var store callback.Store
	if c.store != nil {
		store = c.store(t)
	}
	f := newFixtureWithStore(t, store, c.opts...)
	rec := c.send(t, f)
	want := c.want

	wantStatus(t, rec, want.status)
	h := rec.Header()
	if want.reason != "" {
		m := decode(t, rec)
		if m["status"] != "error" || m["reason"] != want.reason || m["message"] == "" {
			t.Errorf("body %v, want status error, reason %s and a message", m, want.reason)
		}
		if want.message != "" && m["message"] != want.message {
			t.Errorf("message %q, want %q", m["message"], want.message)
		}
		if h.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", h.Get("Cache-Control"))
		}
		if row.Status != rec.Code {
			t.Errorf("the row of %v answers %d as JSON, the request got %d", row.Err, row.Status, rec.Code)
		}
	} else {
		body := rec.Body.String()
		if h.Get("Content-Type") != "text/html; charset=utf-8" || h.Get("Cache-Control") != "no-store" ||
			h.Get("Referrer-Policy") != "no-referrer" || !strings.HasPrefix(h.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("not the hardened page: %v", h)
		}
		if !strings.Contains(body, want.page) || !strings.Contains(body, "Request ID: ") {
			t.Errorf("the page lacks %q or the request ID: %.600s", want.page, body)
		}
		if !row.HasPage || row.PageStatus != rec.Code {
			t.Errorf("the row of %v answers %d with a page (has one: %v), the request got %d", row.Err, row.PageStatus, row.HasPage, rec.Code)
		}
	}
	if got := h.Get("Retry-After"); (rec.Code == 429 || rec.Code == 503) && got == "" || want.retryAfter != "" && got != want.retryAfter {
		t.Errorf("Retry-After %q, want %q (and one on every 429 and 503)", got, want.retryAfter)
	}
	for i := 0; i+1 < len(want.header); i += 2 {
		if got := h.Get(want.header[i]); !strings.Contains(got, want.header[i+1]) {
			t.Errorf("%s: %q, want %q in it", want.header[i], got, want.header[i+1])
		}
	}

	outcome := row.Outcome
	if want.callbacks != "" {
		outcome = row.CallbackOutcome
	}
	if got := lastRequestLog(t, f)["outcome"]; got != outcome {
		t.Errorf("the request's log line says outcome %v, want the row's %q", got, outcome)
	}
	metrics := httptest.NewRecorder()
	f.metricsHandler.ServeHTTP(metrics, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if want.callbacks != "" {
		if line := `oauth_callback_callbacks_received_total{outcome="` + want.callbacks + `"} 1`; !strings.Contains(metrics.Body.String(), line) {
			t.Errorf("metrics lack %s:\n%s", line, strings.Join(grepLines(metrics.Body.String(), "callbacks_received_total{"), "\n"))
		}
	}
	if want.took != "" {
		if line := `oauth_callback_takes_total{code="` + want.took + `"} 1`; !strings.Contains(metrics.Body.String(), line) {
			t.Errorf("metrics lack %s:\n%s", line, strings.Join(grepLines(metrics.Body.String(), "takes_total{"), "\n"))
		}
	}
}

// lastRequestLog is the last request's log line.
func lastRequestLog(t *testing.T, f *fixture) map[string]any {
	t.Helper()
	lines := grepLines(f.logs.String(), `"msg":"request"`)
	if len(lines) == 0 {
		t.Fatalf("no request logged:\n%s", f.logs)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatal(err)
	}
	return m
}
