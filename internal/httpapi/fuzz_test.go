package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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
	store := memstore.New(time.Hour, 1<<30)
	f.Cleanup(func() { store.Close() })
	fx := newFixture(f, func(o *httpapi.Options) { o.Store = store })
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
