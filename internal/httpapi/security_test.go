package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/memstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/httpapi"
)

const (
	goodToken   = "tok-0123456789abcdef-good"
	secondToken = "tok-fedcba9876543210-next"
)

// TestAttackSuite: each row is an attack, with the exact status it gets.
// For every row: nothing is stored (unless the row is a legitimate callback
// carrying a payload), the payload does not come back as markup, and
// neither the tokens nor the payload's secrets reach the log.
func TestAttackSuite(t *testing.T) {
	xss := `<script>alert(1)</script>`
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name    string
		method  string
		target  string
		body    string
		header  []string
		want    int
		stored  int // entries the store may hold after the request
		noToken bool
	}{
		// Reflected fields.
		{name: "XSS in error, no state", target: "/callback?error=" + url.QueryEscape(xss), want: 400},
		{name: "XSS in error_description, no state", target: "/callback?error=e&error_description=" + url.QueryEscape(xss), want: 400},
		{name: "XSS in state (valid VSCHAR), stored as data", target: "/callback?code=c&state=" + url.QueryEscape(xss), want: 200, stored: 1},
		{name: "XSS in error with state, stored as data", target: "/callback?state=s&error=" + url.QueryEscape(xss) + "&error_description=" + url.QueryEscape(xss), want: 200, stored: 1},
		{name: "XSS in an extra parameter", target: "/callback?code=c&state=s&session_state=" + url.QueryEscape(xss), want: 200, stored: 1},
		// State.
		{name: "CR LF in state", target: "/callback?code=c&state=a%0D%0ASet-Cookie:%20x=1", want: 400},
		{name: "NUL in state", target: "/callback?code=c&state=a%00b", want: 400},
		{name: "unicode state", target: "/callback?code=c&state=%E2%98%83", want: 400},
		{name: "invalid UTF-8 in description", target: "/callback?state=s&error=e&error_description=%C3%28", want: 400},
		{name: "duplicate state", target: "/callback?code=c&state=a&state=b", want: 400},
		{name: "duplicate code", target: "/callback?code=a&code=b&state=s", want: 400},
		{name: "over-long query", target: "/callback?code=c&state=s&x=" + long(40<<10), want: 414},
		{name: "over-long code", target: "/callback?state=s&code=" + long(9<<10), want: 400},
		{name: "over-long form body", method: "POST", target: "/callback", body: "state=s&code=" + long(70<<10),
			header: []string{"Content-Type", "application/x-www-form-urlencoded"}, want: 413},
		{name: "form body as JSON", method: "POST", target: "/callback", body: `{"state":"s","code":"c"}`,
			header: []string{"Content-Type", "application/json"}, want: 415},
		// Methods.
		{name: "DELETE /callback", method: "DELETE", target: "/callback?code=c&state=s", want: 405},
		{name: "TRACE /callback", method: "TRACE", target: "/callback", want: 405},
		{name: "PATCH /api", method: "PATCH", target: "/api/callback/s", header: []string{"Authorization", "Bearer " + goodToken}, want: 405},
		// API path.
		{name: "path traversal", target: "/api/callback/../../etc/passwd", want: 404},
		{name: "encoded traversal", target: "/api/callback/..%2F..%2Fetc%2Fpasswd", header: []string{"Authorization", "Bearer " + goodToken}, want: 404},
		{name: "encoded slash", target: "/api/callback/a%2Fb", header: []string{"Authorization", "Bearer " + goodToken}, want: 404},
		{name: "NUL in API state", target: "/api/callback/a%00b", header: []string{"Authorization", "Bearer " + goodToken}, want: 400},
		// Tokens.
		{name: "no token", target: "/api/callback/s", want: 401, noToken: true},
		{name: "empty bearer", target: "/api/callback/s", header: []string{"Authorization", "Bearer "}, want: 401, noToken: true},
		{name: "wrong scheme", target: "/api/callback/s", header: []string{"Authorization", "Basic " + goodToken}, want: 401, noToken: true},
		{name: "wrong token", target: "/api/callback/s", header: []string{"Authorization", "Bearer tok-0000000000000000-nope"}, want: 401, noToken: true},
		{name: "almost-right token", target: "/api/callback/s", header: []string{"Authorization", "Bearer " + goodToken[:len(goodToken)-1] + "x"}, want: 401, noToken: true},
		{name: "token prefix", target: "/api/callback/s", header: []string{"Authorization", "Bearer " + goodToken[:8]}, want: 401, noToken: true},
		{name: "token with suffix", target: "/api/callback/s", header: []string{"Authorization", "Bearer " + goodToken + "x"}, want: 401, noToken: true},
		{name: "register without token", method: "PUT", target: "/api/callback/s", want: 401, noToken: true},
		{name: "good token", target: "/api/callback/s", header: []string{"Authorization", "Bearer " + goodToken}, want: 404},
		{name: "rotated second token", target: "/api/callback/s", header: []string{"Authorization", "bearer " + secondToken}, want: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(o *httpapi.Options) { o.Apps = tokenApps(t, goodToken, secondToken) })
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			req := httptest.NewRequest(method, "/", strings.NewReader(tt.body))
			req.URL.RawQuery = ""
			if u, err := url.Parse(tt.target); err == nil {
				req.URL = u
			} else {
				t.Fatalf("target: %v", err)
			}
			req.RequestURI = tt.target
			for i := 0; i+1 < len(tt.header); i += 2 {
				req.Header.Set(tt.header[i], tt.header[i+1])
			}
			rec := httptest.NewRecorder()
			f.handler.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d; body %.200s", rec.Code, tt.want, rec.Body)
			}
			if n := f.store.writes(); n != tt.stored {
				t.Errorf("stored %d callbacks or registrations, want %d", n, tt.stored)
			}
			body := rec.Body.String()
			if strings.Contains(body, "<script>alert") || strings.Count(body, "<script") > 1 {
				t.Errorf("markup from the request in the answer: %.300s", body)
			}
			logs := f.logs.String()
			for _, token := range []string{goodToken, secondToken, "tok-0000000000000000-nope"} {
				if strings.Contains(body, token) || strings.Contains(logs, token) {
					t.Errorf("a token reached the answer or the log")
				}
			}
			// The payload is shown escaped, as text, and never logged.
			if strings.Contains(logs, "alert(1)") {
				t.Errorf("log contains the payload")
			}
			if tt.noToken {
				if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer realm="oauth-callback-server"`) {
					t.Errorf("WWW-Authenticate: %q", got)
				}
			}
		})
	}
}

func TestCallbackRateLimitPerClientIP(t *testing.T) {
	f := newFixture(t, func(o *httpapi.Options) { o.RateLimits.Callback = 2 })
	hit := func(remote, xff string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/callback?code=c", nil) // invalid (no state): stores nothing
		req.RemoteAddr = remote
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, req)
		return rec
	}
	hit("203.0.113.7:1000", "")
	hit("203.0.113.7:1001", "")
	// A spoofed X-Forwarded-For from an untrusted peer is ignored: same bucket.
	rec := hit("203.0.113.7:1002", "198.51.100.99")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("third request: %d, want 429", rec.Code)
	}
	if rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "Too many sign-in attempts") {
		t.Errorf("429 without Retry-After or page: %v %.200s", rec.Header(), rec.Body)
	}
	// Another client is not affected.
	if rec := hit("203.0.113.8:1000", ""); rec.Code != http.StatusBadRequest {
		t.Errorf("other client: %d, want its own 400", rec.Code)
	}
}

func TestTrustedProxyForwardsTheClientIP(t *testing.T) {
	f := newFixture(t, func(o *httpapi.Options) {
		o.RateLimits.Callback = 1
		o.TrustedProxies = trustedPrefixes(t, "10.0.0.0/8")
	})
	hit := func(xff string) int {
		req := httptest.NewRequest(http.MethodGet, "/callback?code=c", nil)
		req.RemoteAddr = "10.1.2.3:4000" // the ingress controller
		req.Header.Set("X-Forwarded-For", xff)
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, req)
		return rec.Code
	}
	if hit("198.51.100.1") != 400 || hit("198.51.100.2") != 400 {
		t.Fatal("two clients behind one proxy share a bucket")
	}
	if got := hit("198.51.100.1"); got != 429 {
		t.Fatalf("same client again: %d, want 429", got)
	}
	// The client cannot escape by prepending addresses: the right-most
	// untrusted hop is what counts.
	if got := hit("1.2.3.4, 198.51.100.1"); got != 429 {
		t.Fatalf("spoofed left-most hop: %d, want 429", got)
	}
}

func TestAPIRateLimitPerToken(t *testing.T) {
	f := newFixture(t, func(o *httpapi.Options) {
		o.Apps = tokenApps(t, goodToken, secondToken)
		o.RateLimits.API = 2
	})
	get := func(token string) int {
		return f.do(t, http.MethodGet, "/api/callback/s", nil, "Authorization", "Bearer "+token).Code
	}
	get(goodToken)
	get(goodToken)
	if got := get(goodToken); got != 429 {
		t.Fatalf("third with one token: %d, want 429", got)
	}
	if got := get(secondToken); got != 404 {
		t.Fatalf("another token: %d, want its own bucket", got)
	}
}

// In a testing/synctest bubble, time starts at midnight UTC, 1 January 2000.
func TestRegistration(t *testing.T) { synctest.Test(t, testRegistration) }

func testRegistration(t *testing.T) {
	f := newFixture(t)
	put := func(state, body string) *httptest.ResponseRecorder {
		return f.do(t, http.MethodPut, "/api/callback/"+state, strings.NewReader(body), "Content-Type", "application/json")
	}
	rec := put("reg-1", `{"ttl":"5m","metadata":{"session":"abc","scopes":["Mail.Read"]}}`)
	wantStatus(t, rec, http.StatusCreated)
	if m := decode(t, rec); m["status"] != "registered" || m["expires_at"] != "2000-01-01T00:05:00Z" {
		t.Errorf("body: %v", m)
	}
	wantStatus(t, put("reg-1", ``), http.StatusConflict)
	wantStatus(t, f.get(t, "/callback?code=c&state=reg-1"), http.StatusOK)
	m := decode(t, f.get(t, "/api/callback/reg-1"))
	meta, _ := m["metadata"].(map[string]any)
	if meta["session"] != "abc" {
		t.Errorf("metadata: %v", m["metadata"])
	}
	for body, want := range map[string]int{
		`{"ttl":"1h"}`:             400, // over the 10 minute maximum
		`{"ttl":0}`:                400,
		`{"ttl":"soon"}`:           400,
		`{"metadata":`:             400,
		`{"unknown":1}`:            400,
		`{"ttl":60}{"ttl":60}`:     400,
		`{"ttl":60, "metadata":1}`: 201,
	} {
		if rec := put("other-"+strings.NewReplacer("{", "", "}", "", `"`, "", ":", "", " ", "", ",", "").Replace(body), body); rec.Code != want {
			t.Errorf("body %s: %d, want %d (%s)", body, rec.Code, want, rec.Body)
		}
	}
	rec = f.do(t, http.MethodPut, "/api/callback/x", strings.NewReader(`{"ttl":60}`), "Content-Type", "text/plain")
	wantStatus(t, rec, http.StatusUnsupportedMediaType)
	rec = f.do(t, http.MethodPut, "/api/callback/big", strings.NewReader(`{"metadata":"`+strings.Repeat("m", 5000)+`"}`), "Content-Type", "application/json")
	wantStatus(t, rec, http.StatusBadRequest)
}

func TestRequiredRegistrationRefusesUnknownStates(t *testing.T) {
	store := memstore.New(callback.StoreConfig{TTL: ttl, RequireRegistration: true}, memstore.Config{MaxEntries: 1000})
	t.Cleanup(func() { store.Close() })
	f := newFixtureWithStore(t, store)
	rec := f.get(t, "/callback?code=c&state=made-up")
	wantStatus(t, rec, http.StatusNotFound)
	if !strings.Contains(rec.Body.String(), "unknown or has expired; start again from your application") &&
		!strings.Contains(rec.Body.String(), "unknown or has expired. Start again from your application") {
		t.Errorf("page: %.400s", rec.Body)
	}
	if n, err := store.Pending(context.Background()); err != nil || n != 0 {
		t.Errorf("a made-up state was stored: %d pending (%v)", n, err)
	}
	wantStatus(t, f.do(t, http.MethodPut, "/api/callback/known", nil), http.StatusCreated)
	wantStatus(t, f.get(t, "/callback?code=c&state=known"), http.StatusOK)
	wantStatus(t, f.get(t, "/api/callback/known"), http.StatusOK)
}

func TestStateMinLength(t *testing.T) {
	f := newFixture(t, func(o *httpapi.Options) { o.StateMinLength = 16 })
	wantStatus(t, f.get(t, "/callback?code=c&state=short"), http.StatusBadRequest)
	wantStatus(t, f.get(t, "/api/callback/short"), http.StatusBadRequest)
	wantStatus(t, f.get(t, "/callback?code=c&state=long-enough-state-1"), http.StatusOK)
	if n := f.store.writes(); n != 1 {
		t.Errorf("stored %d callbacks, want 1", n)
	}
}

// TestTokensNameTheirApp: tokens given with an app name, as a SHA-256
// digest, or plain all open the API, and the request log names the app;
// any other token is refused.
func TestTokensNameTheirApp(t *testing.T) {
	filesToken := "files-token-0123456789"
	digest := sha256.Sum256([]byte(filesToken))
	f := newFixture(t, func(o *httpapi.Options) {
		o.Apps = tokenApps(t, "mail=mail-token-0123456789", "files=sha256:"+hex.EncodeToString(digest[:]), "plain-token-0123456789==")
	})
	for token, app := range map[string]string{"mail-token-0123456789": "mail", filesToken: "files", "plain-token-0123456789==": "default"} {
		rec := f.do(t, http.MethodGet, "/api/status/app-"+app, nil, "Authorization", "Bearer "+token)
		if rec.Code == http.StatusUnauthorized {
			t.Errorf("the %s token was refused", app)
		}
		if !strings.Contains(f.logs.String(), `"app":"`+app+`"`) {
			t.Errorf("no log line names the app %q:\n%s", app, f.logs.String())
		}
	}
	for _, wrong := range []string{"mail=mail-token-0123456789", "sha256:" + hex.EncodeToString(digest[:]), "mail-token-012345678"} {
		if rec := f.do(t, http.MethodGet, "/api/status/wrong", nil, "Authorization", "Bearer "+wrong); rec.Code != http.StatusUnauthorized {
			t.Errorf("token %q: %d, want 401", wrong, rec.Code)
		}
	}
}

// TestAppsSeeOnlyTheirStates: a state one app registered exists for no
// other. Another app's take, long-poll, status and cancel answer exactly
// as for a state never seen (the same status and body), and the owner's
// sign-in goes on untouched. Long-polls wait for real here: every look a
// long-poll makes after its first (a re-check, a wake-up, the last look
// at shutdown) runs outside the token check, and must still be made for
// the app that sent it.
func TestAppsSeeOnlyTheirStates(t *testing.T) { synctest.Test(t, testAppsSeeOnlyTheirStates) }

func testAppsSeeOnlyTheirStates(t *testing.T) {
	f := newFixture(t, withLongPoll(time.Minute, 100), func(o *httpapi.Options) {
		o.Apps = tokenApps(t, "mail="+goodToken, "files="+secondToken)
		o.LongPoll.Recheck = 5 * time.Second
	})
	mail := []string{"Authorization", "Bearer " + goodToken}
	files := []string{"Authorization", "Bearer " + secondToken}
	wantStatus(t, f.do(t, http.MethodPut, "/api/callback/mine", nil, mail...), http.StatusCreated)
	wantStatus(t, f.get(t, "/callback?code=the-code&state=mine"), http.StatusOK)

	asUnknown := func(method, path string) {
		t.Helper()
		got := f.do(t, method, strings.Replace(path, "{state}", "mine", 1), nil, files...)
		want := f.do(t, method, strings.Replace(path, "{state}", "never-seen", 1), nil, files...)
		body := strings.ReplaceAll(got.Body.String(), `"mine"`, `"never-seen"`) // a status names its state
		if got.Code != want.Code || body != want.Body.String() {
			t.Fatalf("%s %s by another app: %d %s; for an unknown state: %d %s", method, path, got.Code, got.Body, want.Code, want.Body)
		}
	}
	asUnknown(http.MethodGet, "/api/callback/{state}")
	// The first look, then a re-check every 5 s for 8 s: each finds
	// nothing for files, and the wait ends in 404.
	asUnknown(http.MethodGet, "/api/callback/{state}?wait=8s")
	asUnknown(http.MethodGet, "/api/status/{state}")
	asUnknown(http.MethodDelete, "/api/callback/{state}")
	if got := f.do(t, http.MethodPut, "/api/callback/mine", nil, files...); got.Code != http.StatusConflict {
		t.Fatalf("registration by another app: %d, want 409", got.Code)
	}

	// files already waits when mail's callback lands: the wake-up's look
	// is made for files too, and finds nothing.
	wantStatus(t, f.do(t, http.MethodPut, "/api/callback/woken", nil, mail...), http.StatusCreated)
	waiting := f.async(t, "/api/callback/woken?wait=8s", files...)
	synctest.Wait()
	wantStatus(t, f.get(t, "/callback?code=woken-code&state=woken"), http.StatusOK)
	if rec := <-waiting; rec.Code != http.StatusNotFound {
		t.Fatalf("files' long-poll woken by mail's callback: %d %s, want 404", rec.Code, rec.Body)
	}

	// The replica shuts down while files waits: its last look, too.
	wantStatus(t, f.do(t, http.MethodPut, "/api/callback/last", nil, mail...), http.StatusCreated)
	wantStatus(t, f.get(t, "/callback?code=last-code&state=last"), http.StatusOK)
	waiting = f.async(t, "/api/callback/last?wait=50s", files...)
	synctest.Wait()
	close(f.draining)
	if rec := <-waiting; rec.Code != http.StatusNotFound {
		t.Fatalf("files' long-poll at shutdown: %d %s, want 404", rec.Code, rec.Body)
	}

	for state, code := range map[string]string{"mine": "the-code", "woken": "woken-code", "last": "last-code"} {
		rec := f.do(t, http.MethodGet, "/api/callback/"+state, nil, mail...)
		wantStatus(t, rec, http.StatusOK)
		if got := decode(t, rec)["auth_code"]; got != code {
			t.Fatalf("owner's take of %s: code %v", state, got)
		}
	}
	asUnknown(http.MethodGet, "/api/callback/{state}") // not 410: taken is news of the state too
	asUnknown(http.MethodGet, "/api/status/{state}")
}
