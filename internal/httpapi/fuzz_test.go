package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/memstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/httpapi"
)

// FuzzCallback throws arbitrary queries and form bodies at /callback: never
// a panic, never a 5xx, never unescaped markup from the input.
func FuzzCallback(f *testing.F) {
	seeds := []string{
		"code=abc&state=xyz",
		"state=s&error=access_denied&error_description=%3Cscript%3E",
		"state=%3Cimg+src%3Dx%3E&error=%3Csvg%3E&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
		"error=access_denied&error_description=AADSTS65004",
		"code=c&state=a&state=b",
		"code=%zz&state=s",
		"code=c;state=s",
		"state=%00&code=%FF",
		"state=" + strings.Repeat("A", 600) + "&code=c",
		"code=c&state=s&iss=https%3A%2F%2Flogin&session_state=1&client_info=e30",
		"",
		"&&&==&",
	}
	for _, s := range seeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	// Fuzzing stores many callbacks: a bound the fuzzer cannot reach keeps
	// "store full" (a legitimate 503) out of the way.
	store := memstore.New(callback.StoreConfig{TTL: time.Hour}, memstore.Config{MaxEntries: 1 << 30})
	f.Cleanup(func() { store.Close() })
	fx := newFixtureWithStore(f, store)
	f.Fuzz(func(t *testing.T, raw string, post bool) {
		var req *http.Request
		if post {
			req = httptest.NewRequest(http.MethodPost, "/callback", strings.NewReader(raw))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req = httptest.NewRequest(http.MethodGet, "/callback", nil)
			req.URL.RawQuery = raw
		}
		rec := httptest.NewRecorder()
		fx.handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q", rec.Code, raw)
		}
		body := rec.Body.String()
		// The page's own script is its only one; nothing from the input
		// becomes markup.
		if strings.Count(body, "<script") > 1 || strings.Contains(body, "<img") || strings.Contains(body, "<svg") {
			t.Fatalf("unescaped markup for %q", raw)
		}
	})
}

// FuzzAPI throws arbitrary paths, waits, Prefer headers, tokens and bodies
// at the API: never a panic, never a 5xx.
func FuzzAPI(f *testing.F) {
	f.Add("state-1", "", "", goodToken, "", false)
	f.Add("a%2Fb", "25s", "", goodToken, "", false)
	f.Add("%00", "", "wait=abc", "", "", false)
	f.Add("s", "-1", "wait=99999999999", goodToken+"x", "", false)
	f.Add("reg", "", "", goodToken, `{"ttl":"5m","metadata":{"a":1}}`, true)
	f.Add("reg", "", "", goodToken, `{"ttl":1e309}`, true)
	store := memstore.New(callback.StoreConfig{TTL: time.Hour}, memstore.Config{MaxEntries: 1 << 30})
	f.Cleanup(func() { store.Close() })
	fx := newFixtureWithStore(f, store, func(o *httpapi.Options) {
		o.Apps = tokenApps(f, goodToken)
		o.LongPoll.MaxWait = time.Millisecond // a long-poll must not stall the fuzzer
		o.LongPoll.MaxWaiters = 10
	})
	f.Fuzz(func(t *testing.T, state, wait, prefer, token, body string, put bool) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path = "/api/callback/" + state
		req.URL.RawPath = ""
		if wait != "" {
			req.URL.RawQuery = "wait=" + url.QueryEscape(wait)
		}
		if put {
			req.Method = http.MethodPut
			req.Body = io.NopCloser(strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
		}
		if prefer != "" {
			req.Header.Set("Prefer", prefer)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		fx.handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for state %q wait %q prefer %q body %q: %s", rec.Code, state, wait, prefer, body, rec.Body)
		}
	})
}
