package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/apps"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/memstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/httpapi"
	"github.com/oauth-callback-server/oauth-callback-server/internal/metrics"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testlog"
)

const ttl = 10 * time.Minute

type fixture struct {
	handler        http.Handler
	metricsHandler http.Handler
	store          *writeCounter
	logs           *testlog.Buffer
	draining       chan struct{}
}

// writeCounter counts the store's successful writes, callbacks and
// registrations, so that a test can say that a request stored nothing.
type writeCounter struct {
	*memstore.Store
	n atomic.Int64
}

func (w *writeCounter) Put(ctx context.Context, c callback.Callback) (callback.Receipt, error) {
	receipt, err := w.Store.Put(ctx, c)
	if err == nil {
		w.n.Add(1)
	}
	return receipt, err
}

func (w *writeCounter) Register(ctx context.Context, app callback.App, state string, reg callback.Registration) error {
	err := w.Store.Register(ctx, app, state, reg)
	if err == nil {
		w.n.Add(1)
	}
	return err
}

// writes is how many callbacks and registrations were stored.
func (w *writeCounter) writes() int { return int(w.n.Load()) }

// newFixture serves the API on the fixture's own memory store.
func newFixture(t testing.TB, mutate ...func(*httpapi.Options)) *fixture {
	t.Helper()
	return newFixtureWithStore(t, nil, mutate...)
}

// newFixtureWithStore serves the API on store; nil is the fixture's own
// memory store, f.store.
func newFixtureWithStore(t testing.TB, store callback.Store, mutate ...func(*httpapi.Options)) *fixture {
	t.Helper()
	f := &fixture{logs: &testlog.Buffer{}, draining: make(chan struct{})}
	f.store = &writeCounter{Store: memstore.New(callback.StoreConfig{TTL: ttl}, memstore.Config{MaxEntries: 1000})}
	t.Cleanup(func() { f.store.Close() })
	if store == nil {
		store = f.store
	}
	opts := httpapi.Options{Draining: f.draining}
	for _, m := range mutate {
		m(&opts)
	}
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := metrics.New(httpapi.CallbackOutcomes()...) // as cmd makes them
	f.handler = checkedAgainstSpec(t, httpapi.NewServer(store, log, m, opts))
	f.metricsHandler = m.Handler()
	return f
}

func (f *fixture) do(t *testing.T, method, target string, body io.Reader, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec
}

func (f *fixture) get(t *testing.T, target string) *httptest.ResponseRecorder {
	t.Helper()
	return f.do(t, http.MethodGet, target, nil)
}

func (f *fixture) pending(t *testing.T) int64 {
	t.Helper()
	n, err := f.store.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type: got %q, want application/json; body %s", ct, rec.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("decode %q: %v", rec.Body, err)
	}
	return m
}

func wantStatus(t *testing.T, rec *httptest.ResponseRecorder, want int) {
	t.Helper()
	if rec.Code != want {
		t.Fatalf("status: got %d, want %d; body: %.300s", rec.Code, want, rec.Body)
	}
}

// --- docs/api.md, "Compatibility", row by row ---

func TestContractCallbackSuccessPage(t *testing.T) {
	f := newFixture(t)
	rec := f.get(t, "/callback?code=abc&state=s1")
	wantStatus(t, rec, http.StatusOK)
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type: got %q", ct)
	}
	body := rec.Body.String()
	for _, want := range []string{"Sign-in complete", "close this window"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if f.pending(t) != 1 {
		t.Errorf("pending: got %d, want 1", f.pending(t))
	}
}

func TestContractCallbackErrorPage(t *testing.T) {
	f := newFixture(t)
	rec := f.get(t, "/callback?state=s1&error=access_denied&error_description=The+user+declined")
	wantStatus(t, rec, http.StatusOK)
	body := rec.Body.String()
	for _, want := range []string{"Sign-in failed", "access_denied", "The sign-in was cancelled", "Request ID: "} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Not registered: the provider's own words go to the API only.
	if strings.Contains(body, "The user declined") {
		t.Error("error_description of an unregistered state is on the page")
	}
	rec = f.get(t, "/api/callback/s1")
	wantStatus(t, rec, http.StatusOK)
	m := decode(t, rec)
	if m["auth_code"] != nil || m["error"] != "access_denied" || m["error_description"] != "The user declined" || m["status"] != "success" {
		t.Errorf("body: %v", m)
	}
}

// Time is fake in a testing/synctest bubble: the sleep moves it past the TTL
// at once.
func TestContractHealth(t *testing.T) { synctest.Test(t, testContractHealth) }

func testContractHealth(t *testing.T) {
	f := newFixture(t)
	f.get(t, "/callback?code=a&state=one")
	f.get(t, "/callback?code=b&state=two")
	f.get(t, "/api/callback/one") // taken: no longer active
	rec := f.get(t, "/health")
	wantStatus(t, rec, http.StatusOK)
	m := decode(t, rec)
	if m["status"] != "healthy" || m["service"] != "oauth-callback-server" || m["active_callbacks"] != 1.0 {
		t.Errorf("body: %v", m)
	}
	if _, err := time.Parse(time.RFC3339Nano, m["timestamp"].(string)); err != nil {
		t.Errorf("timestamp %v is not ISO-8601: %v", m["timestamp"], err)
	}
	time.Sleep(ttl)
	if m := decode(t, f.get(t, "/health")); m["active_callbacks"] != 0.0 {
		t.Errorf("after expiry: active_callbacks %v, want 0", m["active_callbacks"])
	}
}

func TestContractTake(t *testing.T) {
	f := newFixture(t)
	f.get(t, "/callback?code=the-code&state=abc")

	rec := f.get(t, "/api/callback/abc")
	wantStatus(t, rec, http.StatusOK)
	m := decode(t, rec)
	want := map[string]any{"status": "success", "auth_code": "the-code", "state": "abc", "error": nil, "error_description": nil}
	for k, v := range want {
		got, present := m[k]
		if !present || got != v {
			t.Errorf("%s: got %v (present %v), want %v", k, got, present, v)
		}
	}

	rec = f.get(t, "/api/callback/abc")
	wantStatus(t, rec, http.StatusGone)
	if m := decode(t, rec); m["status"] != "error" || m["message"] != "Callback already retrieved" {
		t.Errorf("410 body: %v", m)
	}

	rec = f.get(t, "/api/callback/never")
	wantStatus(t, rec, http.StatusNotFound)
	if m := decode(t, rec); m["status"] != "error" || m["message"] != "Callback not found or expired" {
		t.Errorf("404 body: %v", m)
	}
}

func TestContractExpiredEntryIsNotFound(t *testing.T) {
	synctest.Test(t, testContractExpiredEntryIsNotFound)
}

func testContractExpiredEntryIsNotFound(t *testing.T) {
	f := newFixture(t)
	f.get(t, "/callback?code=c&state=old")
	time.Sleep(ttl)
	// No other callback arrives to trigger a sweep: expiry holds anyway.
	wantStatus(t, f.get(t, "/api/callback/old"), http.StatusNotFound)
}

func TestContractCORS(t *testing.T) {
	f := newFixture(t)
	f.get(t, "/callback?code=c&state=s")
	rec := f.do(t, http.MethodGet, "/api/callback/s", nil, "Origin", "https://mcp.example")
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("Access-Control-Allow-Origin: got %q, want *", got)
	}
	rec = f.do(t, http.MethodOptions, "/api/callback/s", nil,
		"Origin", "https://mcp.example", "Access-Control-Request-Method", "GET")
	if rec.Code >= 300 || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("preflight: status %d, headers %v", rec.Code, rec.Header())
	}
}

func TestCORSNarrowedByOperator(t *testing.T) {
	f := newFixture(t, func(o *httpapi.Options) { o.CORSOrigins = []string{"https://allowed.example"} })
	rec := f.do(t, http.MethodGet, "/health", nil, "Origin", "https://evil.example")
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("other origin allowed: %q", got)
	}
	rec = f.do(t, http.MethodGet, "/health", nil, "Origin", "https://allowed.example")
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "https://allowed.example" {
		t.Errorf("allowed origin: got %q", got)
	}
}

func TestContractAnythingElseIs404(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/", "/api", "/api/callback", "/api/callback/", "/callbacks", "/api/callback/a/b", "/favicon.ico"} {
		if rec := f.get(t, path); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: got %d, want 404", path, rec.Code)
		}
	}
}

// --- Part B ---

func TestFormPost(t *testing.T) {
	f := newFixture(t)
	form := url.Values{"code": {"form-code"}, "state": {"fp"}, "session_state": {"ss"}}
	rec := f.do(t, http.MethodPost, "/callback", strings.NewReader(form.Encode()),
		"Content-Type", "application/x-www-form-urlencoded")
	wantStatus(t, rec, http.StatusOK)
	m := decode(t, f.get(t, "/api/callback/fp"))
	if m["auth_code"] != "form-code" || m["params"].(map[string]any)["session_state"] != "ss" {
		t.Errorf("body: %v", m)
	}
}

// In a testing/synctest bubble, time starts at midnight UTC, 1 January 2000.
func TestParamsIssAndReceivedAt(t *testing.T) { synctest.Test(t, testParamsIssAndReceivedAt) }

func testParamsIssAndReceivedAt(t *testing.T) {
	f := newFixture(t)
	q := url.Values{
		"code": {"c"}, "state": {"s"}, "session_state": {"abc"}, "client_info": {"eyJ1aWQiOiIxIn0"},
		"iss": {"https://login.microsoftonline.com/tid/v2.0"},
	}
	f.get(t, "/callback?"+q.Encode())
	m := decode(t, f.get(t, "/api/callback/s"))
	params := m["params"].(map[string]any)
	if params["session_state"] != "abc" || params["client_info"] != "eyJ1aWQiOiIxIn0" || params["iss"] != q.Get("iss") {
		t.Errorf("params: %v", params)
	}
	if _, leaked := params["code"]; leaked {
		t.Errorf("params repeat the code")
	}
	if m["iss"] != q.Get("iss") {
		t.Errorf("iss: got %v", m["iss"])
	}
	if m["received_at"] != "2000-01-01T00:00:00Z" {
		t.Errorf("received_at: got %v", m["received_at"])
	}
}

func TestSecondCallbackDoesNotOverwrite(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.get(t, "/callback?code=first&state=s"), http.StatusOK)
	// A refresh: the same code again.
	rec := f.get(t, "/callback?code=first&state=s")
	wantStatus(t, rec, http.StatusConflict)
	if !strings.Contains(rec.Body.String(), "already received") {
		t.Errorf("409 page: %.300s", rec.Body)
	}
	if m := decode(t, f.get(t, "/api/callback/s")); m["auth_code"] != "first" {
		t.Errorf("auth_code: got %v, want first", m["auth_code"])
	}
	// After the take, a replay is still refused and does not revive the state.
	wantStatus(t, f.get(t, "/callback?code=first&state=s"), http.StatusConflict)
	wantStatus(t, f.get(t, "/api/callback/s"), http.StatusGone)
}

// The attack: someone who learned the state (it is in the authorize URL)
// sends their own code before the person's browser arrives. Before the
// fix the first one won silently and the MCP server took the attacker's
// code; now the state is conflicted and nobody gets either code.
func TestDifferentSecondCallbackConflicts(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.get(t, "/callback?code=ATTACKER&state=s"), http.StatusOK)
	rec := f.get(t, "/callback?code=PERSON&state=s")
	wantStatus(t, rec, http.StatusConflict)
	for _, want := range []string{"Sign-in interrupted", "start the sign-in again", "Request ID: "} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("409 page lacks %q", want)
		}
	}
	for range 2 {
		rec = f.get(t, "/api/callback/s")
		wantStatus(t, rec, http.StatusGone)
		want := map[string]any{"status": "error", "reason": "conflict",
			"message": "Conflicting callbacks received for this state; start the sign-in again"}
		if m := decode(t, rec); fmt.Sprint(m) != fmt.Sprint(want) {
			t.Errorf("take of a conflicted state: got %v, want %v", m, want)
		}
	}
	if !strings.Contains(f.logs.String(), `"level":"WARN","msg":"conflicting callbacks`) {
		t.Errorf("no WARN line for the conflict:\n%s", f.logs)
	}

	// After a take, a different callback cannot recall the code, but it
	// is refused, counted and logged the same way.
	wantStatus(t, f.get(t, "/callback?code=PERSON&state=t"), http.StatusOK)
	wantStatus(t, f.get(t, "/api/callback/t"), http.StatusOK)
	rec = f.get(t, "/callback?code=ATTACKER&state=t")
	wantStatus(t, rec, http.StatusConflict)
	if !strings.Contains(rec.Body.String(), "already used") {
		t.Errorf("409 page after the take: %.300s", rec.Body)
	}
	if n := strings.Count(f.logs.String(), `"msg":"conflicting callbacks`); n != 2 {
		t.Errorf("WARN lines: got %d, want 2", n)
	}
}

func TestBadCallbacksStoreNothing(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name   string
		method string
		target string
		body   string
		ctype  string
		want   int
	}{
		{"no parameters", "GET", "/callback", "", "", 400},
		{"missing state", "GET", "/callback?code=c", "", "", 400},
		{"empty state", "GET", "/callback?code=c&state=", "", "", 400},
		{"state too long", "GET", "/callback?code=c&state=" + long(513), "", "", 400},
		{"state with newline", "GET", "/callback?code=c&state=a%0Ab", "", "", 400},
		{"state with NUL", "GET", "/callback?code=c&state=a%00b", "", "", 400},
		{"state not ASCII", "GET", "/callback?code=c&state=%C3%A9t%C3%A9", "", "", 400},
		{"neither code nor error", "GET", "/callback?state=s", "", "", 400},
		{"code too long", "GET", "/callback?state=s&code=" + long(8<<10+1), "", "", 400},
		{"code with tab", "GET", "/callback?state=s&code=a%09b", "", "", 400},
		{"duplicate state", "GET", "/callback?code=c&state=a&state=b", "", "", 400},
		{"duplicate code", "GET", "/callback?code=c&code=d&state=s", "", "", 400},
		{"invalid UTF-8 in error_description", "GET", "/callback?state=s&error=x&error_description=%FF", "", "", 400},
		{"bad percent-encoding", "GET", "/callback?code=%zz&state=s", "", "", 400},
		{"semicolon separator", "GET", "/callback?code=c;state=s", "", "", 400},
		{"too many parameters", "GET", "/callback?code=c&state=s" + strings.Repeat("&p", 0) + manyParams(40), "", "", 400},
		{"query too long", "GET", "/callback?code=c&state=s&x=" + long(33<<10), "", "", 414},
		{"form with wrong content type", "POST", "/callback", "code=c&state=s", "application/json", 415},
		{"form without content type", "POST", "/callback", "code=c&state=s", "", 415},
		{"form too large", "POST", "/callback", "code=c&state=s&x=" + long(65<<10), "application/x-www-form-urlencoded", 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			var hdr []string
			if tt.ctype != "" {
				hdr = []string{"Content-Type", tt.ctype}
			}
			rec := f.do(t, tt.method, tt.target, strings.NewReader(tt.body), hdr...)
			wantStatus(t, rec, tt.want)
			if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type: got %q, want a page", ct)
			}
			if !strings.Contains(rec.Body.String(), "<h1>") {
				t.Errorf("no readable page: %.200s", rec.Body)
			}
			if n := f.pending(t); n != 0 {
				t.Errorf("stored %d callbacks", n)
			}
			if n := f.store.writes(); n != 0 {
				t.Errorf("stored %d callbacks or registrations", n)
			}
		})
	}
}

func manyParams(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("&p")
		b.WriteString(strings.Repeat("x", i+1))
		b.WriteString("=1")
	}
	return b.String()
}

func TestErrorCallbackWithoutStateShowsTheError(t *testing.T) {
	// Entra ID's cancel: no state, an error and a description.
	f := newFixture(t)
	rec := f.get(t, "/callback?error=access_denied&error_description=AADSTS65004%3A+User+declined+%3Cb%3Econsent%3C%2Fb%3E")
	wantStatus(t, rec, http.StatusBadRequest)
	body := rec.Body.String()
	for _, want := range []string{"access_denied", "The sign-in was cancelled", "Nothing was stored"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	// No state, so nothing registered it: the description is not shown.
	if strings.Contains(body, "AADSTS65004") || strings.Contains(body, "consent") {
		t.Error("error_description shown for a callback without state")
	}
	if n := f.store.writes(); n != 0 {
		t.Errorf("stored %d callbacks or registrations", n)
	}
}

func TestXSSPayloadsAreEscaped(t *testing.T) {
	payloads := []string{
		`<script>alert(1)</script>`,
		`"><img src=x onerror=alert(1)>`,
		`'><svg onload=alert(1)>`,
		`</dd></dl><script>alert(1)</script>`,
		`javascript:alert(1)`,
	}
	for _, p := range payloads {
		for _, field := range []string{"error", "error_description", "state"} {
			t.Run(field+" "+p, func(t *testing.T) {
				f := newFixture(t)
				q := url.Values{"state": {"s"}, "error": {"e"}}
				q.Set(field, p)
				rec := f.get(t, "/callback?"+q.Encode())
				body := rec.Body.String()
				if strings.Contains(body, p) && strings.ContainsAny(p, `<>"'`) {
					t.Fatalf("payload reflected raw in page:\n%s", body)
				}
				for _, bad := range []string{"<script>alert", "<img", "<svg", "onerror=alert(1)>"} {
					if strings.Contains(body, bad) {
						t.Fatalf("page contains %q", bad)
					}
				}
				if field == "state" {
					// The state comes back in JSON, where < and > are escaped too.
					rec := f.get(t, "/api/callback/"+url.PathEscape(p))
					if strings.ContainsAny(rec.Body.String(), "<>") {
						t.Fatalf("JSON reflects markup: %s", rec.Body)
					}
				}
			})
		}
	}
}

func TestPageHeaders(t *testing.T) {
	f := newFixture(t)
	for _, target := range []string{"/callback?code=c&state=s", "/callback?code=c"} {
		rec := f.get(t, target)
		h := rec.Header()
		want := map[string]string{
			"Cache-Control":          "no-store",
			"Pragma":                 "no-cache",
			"Referrer-Policy":        "no-referrer",
			"X-Content-Type-Options": "nosniff",
		}
		for k, v := range want {
			if h.Get(k) != v {
				t.Errorf("%s %s: got %q, want %q", target, k, h.Get(k), v)
			}
		}
		csp := h.Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'none'", "frame-ancestors 'none'", "style-src 'sha256-", "script-src 'sha256-"} {
			if !strings.Contains(csp, d) {
				t.Errorf("CSP %q lacks %q", csp, d)
			}
		}
		body := rec.Body.String()
		// Every inline style and script must be the one the CSP hash allows.
		for _, tag := range []string{"style", "script"} {
			open, closing := "<"+tag+">", "</"+tag+">"
			if strings.Count(body, "<"+tag) != 1 {
				t.Errorf("want exactly one <%s>", tag)
				continue
			}
			content := body[strings.Index(body, open)+len(open) : strings.Index(body, closing)]
			sum := sha256.Sum256([]byte(content))
			if want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
				t.Errorf("<%s> content not allowed by the CSP (want %s in %q)", tag, want, csp)
			}
		}
		if !strings.Contains(body, "history.replaceState") {
			t.Error("page does not clear the query from the address bar")
		}
		for _, ext := range []string{"http://", "https://", "//cdn"} {
			if strings.Contains(body, ext) {
				t.Errorf("page loads a third-party resource (%s)", ext)
			}
		}
	}
}

func TestAPIStateWithEscapedSlash(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.get(t, "/callback?code=c&state=a%2Fb"), http.StatusOK)
	rec := f.get(t, "/api/callback/a%2Fb")
	wantStatus(t, rec, http.StatusOK)
	if m := decode(t, rec); m["state"] != "a/b" {
		t.Errorf("state: got %v", m["state"])
	}
}

func TestAPIInvalidState(t *testing.T) {
	f := newFixture(t)
	for _, target := range []string{"/api/callback/" + strings.Repeat("x", 513), "/api/callback/%C3%A9", "/api/callback/a%00b", "/api/callback/a%0Ab"} {
		rec := f.get(t, target)
		if rec.Code != http.StatusBadRequest && rec.Code != http.StatusNotFound {
			t.Errorf("%s: got %d, want 400 (or 404 where routing refuses it)", target[:min(len(target), 40)], rec.Code)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	f := newFixture(t)
	tests := []struct{ method, path, allow string }{
		{http.MethodPut, "/callback", "GET, HEAD, POST"}, // HEAD: the probe of oauth-callback-server check
		{http.MethodPatch, "/api/callback/s", "GET, PUT, DELETE"},
		{http.MethodPost, "/api/status/s", "GET"},
		{http.MethodPut, "/start/AAAAAAAAAAAAAAAAAAAAAA", "GET, POST"},
		{http.MethodPost, "/health", "GET"},
		{http.MethodPatch, "/readyz", "GET"},
	}
	for _, tt := range tests {
		rec := f.do(t, tt.method, tt.path, nil)
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: got %d, want 405", tt.method, tt.path, rec.Code)
			continue
		}
		if got := rec.Header().Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
		}
		if m := decode(t, rec); !strings.Contains(m["message"].(string), "not allowed") {
			t.Errorf("message: %v", m)
		}
	}
}

func TestHealthzAndReadyz(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.get(t, "/healthz"), http.StatusOK)
	wantStatus(t, f.get(t, "/readyz"), http.StatusOK)
	close(f.draining)
	rec := f.get(t, "/readyz")
	wantStatus(t, rec, http.StatusServiceUnavailable)
	if m := decode(t, rec); m["status"] != "draining" {
		t.Errorf("body: %v", m)
	}
	wantStatus(t, f.get(t, "/healthz"), http.StatusOK)
	// Draining replicas still serve what reaches them.
	wantStatus(t, f.get(t, "/callback?code=c&state=s"), http.StatusOK)
}

func TestLogsNeverHoldCodeOrState(t *testing.T) {
	f := newFixture(t)
	const code, state = "SECRET-CODE-0123456789", "STATE-abcdefghijklmnopqrstuvwxyz0123456789ABC"
	f.get(t, "/callback?code="+code+"&state="+state)
	f.get(t, "/callback?code="+code+"&state="+state) // duplicate
	f.get(t, "/api/callback/"+state)
	f.get(t, "/api/callback/"+state) // 410
	logs := f.logs.String()
	if strings.Contains(logs, code) || strings.Contains(logs, state) {
		t.Fatalf("logs leak the code or the state:\n%s", logs)
	}
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) != 4 {
		t.Fatalf("want one line per request, got %d:\n%s", len(lines), logs)
	}
	wantOutcomes := []string{"stored", "duplicate", "taken", "already_taken"}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"method", "route", "status", "duration_ms", "request_id"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %d lacks %s: %s", i, k, line)
			}
		}
		if ms, ok := m["duration_ms"].(float64); !ok || ms < 0 {
			t.Errorf("line %d duration_ms %v: want a number of milliseconds", i, m["duration_ms"])
		}
		if m["state_hash"] != callback.NewStateHasher(nil).Hash(state) {
			t.Errorf("line %d state_hash: %v", i, m["state_hash"])
		}
		if m["outcome"] != wantOutcomes[i] {
			t.Errorf("line %d outcome: got %v, want %s", i, m["outcome"], wantOutcomes[i])
		}
	}
	if !strings.Contains(lines[2], `"route":"/api/callback/{state}"`) {
		t.Errorf("route pattern missing: %s", lines[2])
	}
}

func TestRequestIDFromCallerOrMade(t *testing.T) {
	f := newFixture(t)
	rec := f.do(t, http.MethodGet, "/healthz", nil, "X-Request-Id", "abc-123")
	if got := rec.Header().Get("X-Request-Id"); got != "abc-123" {
		t.Errorf("got %q", got)
	}
	rec = f.do(t, http.MethodGet, "/healthz", nil, "X-Request-Id", "bad id\"with<stuff>")
	if got := rec.Header().Get("X-Request-Id"); got == "" || strings.ContainsAny(got, " \"<") {
		t.Errorf("unsafe request id echoed: %q", got)
	}
}

func trustedPrefixes(t *testing.T, cidrs ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, c := range cidrs {
		out = append(out, netip.MustParsePrefix(c))
	}
	return out
}

func TestNewServerRefusesMissingDependencies(t *testing.T) {
	store := memstore.New(callback.StoreConfig{}, memstore.Config{})
	t.Cleanup(func() { store.Close() })
	log, m := slog.New(slog.DiscardHandler), metrics.New()
	for name, newServer := range map[string]func(){
		"store":   func() { httpapi.NewServer(nil, log, m, httpapi.Options{}) },
		"logger":  func() { httpapi.NewServer(store, nil, m, httpapi.Options{}) },
		"metrics": func() { httpapi.NewServer(store, log, nil, httpapi.Options{}) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("NewServer without a %s did not panic: the first request would have", name)
				}
			}()
			newServer()
		})
	}
}

// tokenApps are the apps of OAUTH_CALLBACK_API_TOKENS entries, as config
// resolves them.
func tokenApps(t testing.TB, entries ...string) []apps.App {
	t.Helper()
	a, errs := apps.Resolve(entries, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return a
}
