package httpapi_test

import (
	"fmt"
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

// The attacks of the hostile-traffic review, one test each: every one
// fails without its fix.

func TestCallbackOverTheByteCapIs413AndStoresNothing(t *testing.T) {
	f := newFixture(t)
	// Three parameters of 6 KiB: each within its own limit, 18 KiB in all.
	form := url.Values{"state": {"s"}, "code": {"c"}}
	for _, p := range []string{"a", "b", "c"} {
		form.Set(p, strings.Repeat("<", 6<<10))
	}
	rec := f.do(t, http.MethodPost, "/callback", strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	wantStatus(t, rec, http.StatusRequestEntityTooLarge)
	if !strings.Contains(rec.Body.String(), "more than 16 KiB") || !strings.Contains(rec.Body.String(), "Nothing was stored") {
		t.Errorf("413 page: %.400s", rec.Body)
	}
	if n := f.store.writes(); n != 0 {
		t.Fatalf("stored %d callbacks or registrations", n)
	}
	// A large real Entra ID callback fits with room to spare.
	entra := url.Values{
		"state":         {"s2"},
		"code":          {strings.Repeat("x", 2<<10)},
		"client_info":   {strings.Repeat("e", 300)},
		"session_state": {"4fd0f9d6-7ef0-4b5f-8a8e-0d4a0c2e7b8a"},
		"iss":           {"https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"},
	}
	wantStatus(t, f.get(t, "/callback?"+entra.Encode()), http.StatusOK)
}

func TestByteCapIsTheOperators(t *testing.T) {
	f := newFixture(t, func(o *httpapi.Options) { o.MaxCallbackBytes = 1 << 10 })
	wantStatus(t, f.get(t, "/callback?state=s&code="+strings.Repeat("c", 1025)), http.StatusRequestEntityTooLarge)
	wantStatus(t, f.get(t, "/callback?state=s&code="+strings.Repeat("c", 1000)), http.StatusOK)
}

func TestFullStoreIs503WithRetryAfterAndOneWarningAMinute(t *testing.T) {
	store := memstore.New(callback.StoreConfig{TTL: time.Minute, MaxBytes: 4 << 10}, memstore.Config{MaxEntries: 1000})
	t.Cleanup(func() { store.Close() })
	f := newFixtureWithStore(t, store)
	code := strings.Repeat("c", 1<<10)
	var rec *httptest.ResponseRecorder
	for i := range 10 {
		if rec = f.get(t, "/callback?state=s"+string(rune('a'+i))+"&code="+code); rec.Code != http.StatusOK {
			break
		}
	}
	wantStatus(t, rec, http.StatusServiceUnavailable)
	if rec.Header().Get("Retry-After") != "60" || !strings.Contains(rec.Body.String(), "Try again in a minute") {
		t.Errorf("503: Retry-After %q, page %.300s", rec.Header().Get("Retry-After"), rec.Body)
	}
	wantStatus(t, f.get(t, "/callback?state=zz&code="+code), http.StatusServiceUnavailable)
	// The API says the same: a full store is a minute's wait, not two
	// seconds' (writeJSON used to set 2 over the table's 60).
	rec = f.do(t, http.MethodPut, "/api/callback/reg-when-full", strings.NewReader(`{"metadata":"`+strings.Repeat("m", 3<<10)+`"}`), "Content-Type", "application/json")
	wantStatus(t, rec, http.StatusServiceUnavailable)
	if got := rec.Header().Get("Retry-After"); got != "60" {
		t.Errorf("API 503 for a full store: Retry-After %q, want 60 as the page and docs/api.md", got)
	}
	if n := strings.Count(f.logs.String(), `"msg":"the callback store is full`); n != 1 {
		t.Errorf("WARN lines for a full store: got %d, want 1", n)
	}
	if !strings.Contains(f.logs.String(), `"outcome":"store_full"`) {
		t.Error("no store_full outcome in the request log")
	}
}

func TestPageShowsNoTextFromTheRequest(t *testing.T) {
	phishing := "Your account is locked. Call IT now at +1 555 0100"
	t.Run("unknown error code: generic sentence, code not shown", func(t *testing.T) {
		f := newFixture(t)
		rec := f.get(t, "/callback?state=s&error="+url.QueryEscape("call_IT_at_555_0100"))
		wantStatus(t, rec, http.StatusOK)
		// Not "555" alone: the page's random request ID may hold it.
		if strings.Contains(rec.Body.String(), "call_IT") || strings.Contains(rec.Body.String(), "555_0100") || !strings.Contains(rec.Body.String(), "reported an error") {
			t.Errorf("page: %.2000s", rec.Body)
		}
	})
	t.Run("description of an unregistered state: API only", func(t *testing.T) {
		f := newFixture(t)
		rec := f.get(t, "/callback?state=s&error=access_denied&error_description="+url.QueryEscape(phishing))
		if strings.Contains(rec.Body.String(), "Call IT") {
			t.Errorf("attacker text on the page")
		}
		if m := decode(t, f.get(t, "/api/callback/s")); m["error_description"] != phishing {
			t.Errorf("the API lost the description: %v", m)
		}
	})
	// Hostile traffic, round 3, item 10: with the API open (the default)
	// anyone can register a state, so registering proves nothing.
	t.Run("description of a state registered on an open API: API only", func(t *testing.T) {
		f := newFixture(t)
		wantStatus(t, f.do(t, http.MethodPut, "/api/callback/reg", nil), http.StatusCreated)
		rec := f.get(t, "/callback?state=reg&error=access_denied&error_description="+url.QueryEscape(phishing))
		wantStatus(t, rec, http.StatusOK)
		if strings.Contains(rec.Body.String(), "Call IT") {
			t.Errorf("attacker text on the page of a state anyone could register")
		}
		if m := decode(t, f.get(t, "/api/callback/reg")); m["error_description"] != phishing {
			t.Errorf("the API lost the description: %v", m)
		}
	})
	t.Run("description of a state registered with a token: one line of 300 characters", func(t *testing.T) {
		f := newFixture(t, func(o *httpapi.Options) { o.Apps = tokenApps(t, goodToken) })
		wantStatus(t, f.do(t, http.MethodPut, "/api/callback/reg", nil, "Authorization", "Bearer "+goodToken), http.StatusCreated)
		desc := "AADSTS65004: User declined to consent.\r\nTrace ID: 0f3e" + strings.Repeat(" more", 200)
		rec := f.get(t, "/callback?state=reg&error=access_denied&error_description="+url.QueryEscape(desc))
		body := rec.Body.String()
		i := strings.Index(body, "AADSTS65004")
		if i < 0 {
			t.Fatalf("registered state's description missing: %.2000s", body)
		}
		shown := body[i : strings.Index(body[i:], "</dd>")+i]
		if strings.ContainsAny(shown, "\r\n") || len([]rune(shown)) != 300 || !strings.HasSuffix(shown, "…") {
			t.Errorf("shown description (%d characters): %q", len([]rune(shown)), shown)
		}
	})
	t.Run("400 pages name no parameter", func(t *testing.T) {
		f := newFixture(t)
		for _, target := range []string{
			"/callback?code=c&state=s&CALL_IT_NOW=1&CALL_IT_NOW=2",
			"/callback?code=c&state=s&CALL_IT_NOW=%FF",
			"/callback?code=c&state=s&" + url.QueryEscape(strings.Repeat("CALL_IT_NOW", 20)) + "=1",
		} {
			rec := f.get(t, target)
			wantStatus(t, rec, http.StatusBadRequest)
			if strings.Contains(rec.Body.String(), "CALL_IT_NOW") {
				t.Errorf("%s: the parameter's name is on the page", target)
			}
			if !strings.Contains(rec.Body.String(), "Request ID: ") {
				t.Errorf("%s: no request id on the page", target)
			}
		}
	})
}

func TestForwardedForHopsWithPortsAndGarbage(t *testing.T) {
	f := newFixture(t, func(o *httpapi.Options) {
		o.RateLimits.Callback = 1
		o.TrustedProxies = trustedPrefixes(t, "10.0.0.0/8")
	})
	hit := func(xff string) int {
		req := httptest.NewRequest(http.MethodGet, "/callback?code=c", nil) // no state: stores nothing
		req.RemoteAddr = "10.1.2.3:4000"                                    // Azure Application Gateway
		req.Header.Set("X-Forwarded-For", xff)
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, req)
		return rec.Code
	}
	steps := []struct {
		xff  string
		want int
	}{
		{"203.0.113.7:51234", 400},
		{"203.0.113.7:51235", 429}, // same client, another port
		{"[2001:db8::1]:443", 400},
		{"2001:db8::1", 429},
		{"not-an-address", 400}, // its own bucket, not the gateway's...
		{"also garbage", 400},   // ...which every such client would share
		{"not-an-address", 429},
		{"203.0.113.9", 400},
	}
	for _, s := range steps {
		if got := hit(s.xff); got != s.want {
			t.Errorf("X-Forwarded-For %q: %d, want %d", s.xff, got, s.want)
		}
	}
}

func TestIPv6ClientsCountPerSlash56OnCallback(t *testing.T) {
	f := newFixture(t, func(o *httpapi.Options) { o.RateLimits.Callback = 1 })
	hit := func(remote string) int {
		req := httptest.NewRequest(http.MethodGet, "/callback?code=c", nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, req)
		return rec.Code
	}
	if got := hit("[2001:db8:0:1::1]:1000"); got != 400 {
		t.Fatalf("first: %d", got)
	}
	if got := hit("[2001:db8:0:2::7]:1000"); got != 429 { // another /64 of the same /56
		t.Errorf("same /56: %d, want 429", got)
	}
	if got := hit("[2001:db8:0:100::1]:1000"); got != 400 { // another /56
		t.Errorf("other /56: %d, want 400", got)
	}
}

func TestGuessingTokensIsRateLimited(t *testing.T) {
	f := newFixture(t, func(o *httpapi.Options) {
		o.Apps = tokenApps(t, goodToken)
		o.RateLimits.API = 3
	})
	guess := func() int {
		return f.do(t, http.MethodGet, "/api/callback/s", nil, "Authorization", "Bearer tok-guess-000000000000").Code
	}
	for i := range 3 {
		if got := guess(); got != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i, got)
		}
	}
	rec := f.do(t, http.MethodGet, "/api/callback/s", nil, "Authorization", "Bearer tok-guess-000000000000")
	wantStatus(t, rec, http.StatusTooManyRequests)
	if m := decode(t, rec); m["reason"] != "rate_limited" {
		t.Errorf("body: %v", m)
	}
	// Another address is not affected.
	req := httptest.NewRequest(http.MethodGet, "/api/callback/s", nil)
	req.RemoteAddr = "198.51.100.20:1"
	req.Header.Set("Authorization", "Bearer "+goodToken)
	rec = httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	wantStatus(t, rec, http.StatusNotFound)
}

func TestWithTokensMetricsAndCountNeedAToken(t *testing.T) {
	f := newFixture(t, func(o *httpapi.Options) {
		o.Apps = tokenApps(t, goodToken)
		o.ServeMetrics = true
	})
	wantStatus(t, f.get(t, "/metrics"), http.StatusUnauthorized)
	wantStatus(t, f.do(t, http.MethodGet, "/metrics", nil, "Authorization", "Bearer "+goodToken), http.StatusOK)

	wantStatus(t, f.get(t, "/callback?code=c&state=s"), http.StatusOK)
	open := decode(t, f.get(t, "/health"))
	if _, ok := open["active_callbacks"]; ok || open["status"] != "healthy" {
		t.Errorf("/health without a token: %v", open)
	}
	withToken := decode(t, f.do(t, http.MethodGet, "/health", nil, "Authorization", "Bearer "+goodToken))
	if withToken["active_callbacks"] != float64(1) {
		t.Errorf("/health with a token: %v", withToken)
	}
}

func TestEveryAPIErrorHasAReason(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.get(t, "/callback?code=c&state=taken"), http.StatusOK)
	f.get(t, "/api/callback/taken")
	for target, want := range map[string]string{
		"/api/callback/never":    "not_found",
		"/api/callback/taken":    "already_retrieved",
		"/api/callback/a?wait=x": "invalid_request",
		"/nowhere":               "not_found",
	} {
		if m := decode(t, f.get(t, target)); m["reason"] != want || m["status"] != "error" || m["message"] == "" {
			t.Errorf("%s: %v, want reason %s", target, m, want)
		}
	}
	wantStatus(t, f.do(t, http.MethodPut, "/api/callback/reg", nil), http.StatusCreated)
	rec := f.do(t, http.MethodPut, "/api/callback/reg", nil)
	wantStatus(t, rec, http.StatusConflict)
	if m := decode(t, rec); m["reason"] != "duplicate" || m["message"] != "State already registered or used" {
		t.Errorf("second registration: %v", m)
	}
}

// fromAddr sends a request from remote with the headers given.
func (f *fixture) fromAddr(t *testing.T, remote, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.RemoteAddr = remote
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec
}

// Hostile traffic, round 3, item 7: wrong tokens from an address the MCP
// server shares (a NAT, an egress) used to give its valid token 429, since
// the failure count was checked before the token.
func TestWrongTokensDoNotLockOutTheRightOne(t *testing.T) {
	f := newFixture(t, func(o *httpapi.Options) {
		o.Apps = tokenApps(t, goodToken)
		o.RateLimits.API = 3
	})
	const shared = "198.51.100.7:1000"
	for range 10 {
		f.fromAddr(t, shared, "/api/callback/s", "Authorization", "Bearer tok-guess-000000000000")
	}
	wantStatus(t, f.fromAddr(t, shared, "/api/callback/s", "Authorization", "Bearer tok-guess-000000000000"), http.StatusTooManyRequests)
	wantStatus(t, f.fromAddr(t, shared, "/api/callback/s", "Authorization", "Bearer "+goodToken), http.StatusNotFound)
}

// Item 6: /health showed active_callbacks only to a valid token and was in
// no rate-limit group: an unlimited oracle for guesses.
func TestHealthCountsWrongTokens(t *testing.T) {
	f := newFixture(t, func(o *httpapi.Options) {
		o.Apps = tokenApps(t, goodToken)
		o.RateLimits.API = 3
	})
	const guesser = "203.0.113.50:1000"
	codes := map[int]int{}
	for range 10 {
		codes[f.fromAddr(t, guesser, "/health", "Authorization", "Bearer tok-guess-000000000000").Code]++
	}
	if codes[http.StatusTooManyRequests] == 0 {
		t.Fatalf("10 wrong tokens on /health: %v, want 429 past the limit of 3", codes)
	}
	// A probe without a token is no guess: never counted, never refused.
	for range 10 {
		wantStatus(t, f.fromAddr(t, "203.0.113.51:1000", "/health"), http.StatusOK)
	}
	// And the guesses count on the API too: one limit for both.
	wantStatus(t, f.fromAddr(t, guesser, "/api/callback/s", "Authorization", "Bearer tok-guess-000000000000"), http.StatusTooManyRequests)
}

// Item 11: IPv6 API clients and token failures were counted per /64 while
// callbacks were per /56, so one client holding a /56 had 256 buckets.
func TestIPv6APIClientsAndTokenFailuresCountPerSlash56(t *testing.T) {
	open := newFixture(t, func(o *httpapi.Options) { o.RateLimits.API = 1 })
	wantStatus(t, open.fromAddr(t, "[2001:db8:0:1::1]:1000", "/api/callback/s"), http.StatusNotFound)
	wantStatus(t, open.fromAddr(t, "[2001:db8:0:2::7]:1000", "/api/callback/s"), http.StatusTooManyRequests) // another /64, same /56
	wantStatus(t, open.fromAddr(t, "[2001:db8:0:100::1]:1000", "/api/callback/s"), http.StatusNotFound)      // another /56

	tokens := newFixture(t, func(o *httpapi.Options) {
		o.Apps = tokenApps(t, goodToken)
		o.RateLimits.API = 2
	})
	for i := range 4 {
		tokens.fromAddr(t, fmt.Sprintf("[2001:db8:0:%x::1]:1000", i+1), "/api/callback/s", "Authorization", "Bearer tok-guess-000000000000")
	}
	wantStatus(t, tokens.fromAddr(t, "[2001:db8:0:9::1]:1000", "/api/callback/s", "Authorization", "Bearer tok-guess-000000000000"), http.StatusTooManyRequests)
}

// Hostile traffic, round 3, item 2: the cap counted raw bytes while the
// budget counted their encoding, so callbacks under the cap made of
// characters that escape (\u0001 is six bytes stored) cost up to six times
// their size and one address filled the unregistered share.
func TestTheByteCapCountsWhatIsStored(t *testing.T) {
	f := newFixture(t, func(o *httpapi.Options) { o.MaxCallbackBytes = 1 << 10 })
	for _, control := range []string{"%01", "%1F", "%1B%5B31m"} {
		rec := f.get(t, "/callback?state=s&code=c&p="+strings.Repeat(control, 100))
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "not valid text") {
			t.Errorf("control %s: %d %.300s, want 400", control, rec.Code, rec.Body)
		}
	}
	// Quotes are two bytes each once stored: 600 of them are over a 1 KiB cap.
	wantStatus(t, f.get(t, "/callback?state=s&code=c&p="+strings.Repeat("%22", 600)), http.StatusRequestEntityTooLarge)
	if n := f.store.writes(); n != 0 {
		t.Fatalf("stored %d callbacks", n)
	}
	// Tab, CR and LF stay allowed: Entra ID sends line breaks.
	wantStatus(t, f.get(t, "/callback?state=s&error=access_denied&error_description=line%0D%0Anext%09tab"), http.StatusOK)
}

// Item 3's bound per client: registrations hold bytes for their TTL, so
// they have a limit of their own per token (or client network), beside
// the API's; takes and status are not held back by it.
func TestRegistrationsAreLimitedPerToken(t *testing.T) {
	f := newFixture(t, func(o *httpapi.Options) {
		o.Apps = tokenApps(t, goodToken)
		o.RateLimits.Register = 2
	})
	put := func(state string) int {
		return f.do(t, http.MethodPut, "/api/callback/"+state, nil, "Authorization", "Bearer "+goodToken).Code
	}
	for _, state := range []string{"r1", "r2"} {
		if got := put(state); got != http.StatusCreated {
			t.Fatalf("registration %s: %d", state, got)
		}
	}
	rec := f.do(t, http.MethodPut, "/api/callback/r3", nil, "Authorization", "Bearer "+goodToken)
	wantStatus(t, rec, http.StatusTooManyRequests)
	if m := decode(t, rec); m["reason"] != "rate_limited" {
		t.Errorf("body: %v", m)
	}
	wantStatus(t, f.do(t, http.MethodGet, "/api/callback/r1", nil, "Authorization", "Bearer "+goodToken), http.StatusNotFound)
}
