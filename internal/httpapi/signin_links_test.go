package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/httpapi"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/fake"
)

// Sign-in links (docs/api.md, "Sign-in links"): each rule with a test.

const (
	publicURL = "https://auth.example.com"
	authorize = "https://login.example.com/tenant/oauth2/v2.0/authorize?client_id=app&response_type=code"
)

func withLinks(o *httpapi.Options) {
	o.SignInLinks.PublicURL = publicURL
	o.SignInLinks.AuthorizeHosts = []string{"login.example.com"}
	o.SignInLinks.ReturnHosts = []string{"app.example.com"}
	o.BindingSecrets = [][]byte{[]byte("0123456789abcdef0123456789abcdef")}
}

func authorizeURL(state string) string {
	return authorize + "&state=" + url.QueryEscape(state) + "&redirect_uri=" + url.QueryEscape(publicURL+"/callback")
}

// registerLink registers state with a sign-in link and returns its start
// URL's path.
func registerLink(t *testing.T, f *fixture, state, returnURL string) string {
	t.Helper()
	body := `{"authorization_url":` + quote(authorizeURL(state))
	if returnURL != "" {
		body += `,"return_url":` + quote(returnURL)
	}
	rec := f.do(t, http.MethodPut, "/api/callback/"+state, strings.NewReader(body+"}"), "Content-Type", "application/json")
	wantStatus(t, rec, http.StatusCreated)
	start, _ := decode(t, rec)["start_url"].(string)
	if !strings.HasPrefix(start, publicURL+"/start/") {
		t.Fatalf("start_url %q, want %s/start/<id>", start, publicURL)
	}
	id := strings.TrimPrefix(start, publicURL+"/start/")
	if len(id) < 22 || strings.Contains(start, state) {
		t.Fatalf("start_url %q: the id must be 128 random bits, not the state", start)
	}
	return "/start/" + id
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// open sends a browser request, with the cookies given.
func (f *fixture) open(t *testing.T, method, target string, body string, cookies []*http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	var req *http.Request
	if method == http.MethodPost {
		req = httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec
}

// press is the person pressing the button of the link's page: a POST to
// the link, as Chromium sends it (same-origin; the page's no-referrer policy
// makes its Origin null).
func (f *fixture) press(t *testing.T, start string, cookies []*http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	return f.openWith(t, http.MethodPost, start, cookies, "Sec-Fetch-Site", "same-origin", "Origin", "null")
}

// openWith sends a browser request without a body, with cookies and headers.
func (f *fixture) openWith(t *testing.T, method, target string, cookies []*http.Cookie, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec
}

func TestSignInLinkBindsTheBrowserThatOpensIt(t *testing.T) {
	f := newFixture(t, withLinks)
	start := registerLink(t, f, "st-bind", "https://app.example.com/done")

	wantStatus(t, f.open(t, http.MethodGet, start, "", nil), http.StatusOK) // the page
	rec := f.press(t, start, nil)
	wantStatus(t, rec, http.StatusSeeOther)
	if got := rec.Header().Get("Location"); got != authorizeURL("st-bind") {
		t.Fatalf("Location %q, want the authorization URL", got)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies: %v", cookies)
	}
	c := cookies[0]
	if !strings.HasPrefix(c.Name, "__Host-") || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteNoneMode || c.Path != "/" || c.Domain != "" {
		t.Fatalf("binding cookie %+v: want __Host-, Secure, HttpOnly, SameSite=None, Path=/", c)
	}
	if strings.Contains(c.Name+c.Value, "st-bind") {
		t.Fatalf("the cookie names the state: %+v", c)
	}

	// The same browser again (Back, then the button) works; another
	// browser is refused.
	wantStatus(t, f.press(t, start, cookies), http.StatusSeeOther)
	rec = f.press(t, start, nil)
	wantStatus(t, rec, http.StatusForbidden)
	if !strings.Contains(rec.Body.String(), "already opened in another browser") {
		t.Errorf("403 page: %.400s", rec.Body)
	}

	// The callback with the cookie is stored; the page offers the way back
	// and clears the cookie.
	rec = f.open(t, http.MethodGet, "/callback?code=the-code&state=st-bind", "", cookies)
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), `href="https://app.example.com/done"`) {
		t.Errorf("no link back on the success page: %.600s", rec.Body)
	}
	if cleared := rec.Result().Cookies(); len(cleared) != 1 || cleared[0].Name != c.Name || cleared[0].MaxAge >= 0 {
		t.Errorf("cookie not cleared: %v", cleared)
	}
	// Used: the link is gone.
	wantStatus(t, f.press(t, start, cookies), http.StatusNotFound)
	m := decode(t, f.get(t, "/api/callback/st-bind"))
	if m["auth_code"] != "the-code" {
		t.Fatalf("take: %v", m)
	}
}

// Hostile traffic, round 4, item 7: mail and chat previewers (Outlook Safe
// Links, Slack and Teams unfurlers) fetch a link before the person does.
// The GET bound the scanner's "browser", and the person got the 403 page.
func TestLinkScannerLeavesTheLinkToThePerson(t *testing.T) {
	f := newFixture(t, withLinks)
	start := registerLink(t, f, "st-scanned", "")
	// The scanner: no cookies, follows nothing, and may come twice.
	for range 2 {
		rec := f.open(t, http.MethodGet, start, "", nil)
		wantStatus(t, rec, http.StatusOK)
		if c := rec.Result().Cookies(); len(c) != 0 {
			t.Fatalf("the link's page set cookies: %v", c)
		}
		if body := rec.Body.String(); !strings.Contains(body, `<form method="post">`) || !strings.Contains(body, ">Continue to sign-in</button>") {
			t.Fatalf("the link's page has no button that posts: %.800s", body)
		}
	}
	if m := decode(t, f.get(t, "/api/status/st-scanned")); m["status"] != "registered" {
		t.Fatalf("status after the scanner: %v, want registered (the link unused)", m)
	}
	// The person: the page, the button, the provider, the callback.
	rec := f.press(t, start, nil)
	wantStatus(t, rec, http.StatusSeeOther)
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("the button bound no browser: cookies %v", cookies)
	}
	wantStatus(t, f.open(t, http.MethodGet, "/callback?code=the-code&state=st-scanned", "", cookies), http.StatusOK)
	if m := decode(t, f.get(t, "/api/callback/st-scanned")); m["auth_code"] != "the-code" {
		t.Fatalf("take: %v", m)
	}
}

// A link's GET does not look the link up: with a store that never answers
// it still gets its page at once, so a scanner (or a flood) costs no store
// operation.
func TestLinkPageTouchesNoStore(t *testing.T) {
	f := newFixtureWithStore(t, &fake.Store{}, withLinks, func(o *httpapi.Options) { o.StoreTimeout = 10 * time.Millisecond })
	wantStatus(t, f.open(t, http.MethodGet, "/start/AAAAAAAAAAAAAAAAAAAAAA", "", nil), http.StatusOK)
	// The button does: here, the store's 503 page.
	wantStatus(t, f.press(t, "/start/AAAAAAAAAAAAAAAAAAAAAA", nil), http.StatusServiceUnavailable)
	// Anything that cannot be a link is refused before either.
	wantStatus(t, f.open(t, http.MethodGet, "/start/not-a-link", "", nil), http.StatusNotFound)
}

// The page's form may reach itself and, through the redirects after it,
// the authorization URL's host (Chromium enforces form-action on each),
// /callback, and with ReturnRedirect the return_url's host. No other page
// may post a form anywhere.
func TestLinkPageCSPAllowsItsFormAndNothingElse(t *testing.T) {
	formAction := func(rec *httptest.ResponseRecorder) string {
		t.Helper()
		for d := range strings.SplitSeq(rec.Header().Get("Content-Security-Policy"), ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(d), "form-action "); ok {
				return v
			}
		}
		t.Fatalf("no form-action in %q", rec.Header().Get("Content-Security-Policy"))
		return ""
	}
	tests := []struct {
		name   string
		mutate func(*httpapi.Options)
		want   string
	}{
		{"authorize hosts", func(*httpapi.Options) {}, "'self' https://login.example.com:*"},
		{"loopback over http too", func(o *httpapi.Options) { o.SignInLinks.AuthorizeHosts = []string{"login.example.com", "127.0.0.1"} },
			"'self' https://login.example.com:* https://127.0.0.1:* http://127.0.0.1:*"},
		{"return hosts with ReturnRedirect", func(o *httpapi.Options) { o.SignInLinks.ReturnRedirect = true },
			"'self' https://login.example.com:* https://app.example.com:*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, withLinks, tt.mutate)
			if got := formAction(f.open(t, http.MethodGet, "/start/AAAAAAAAAAAAAAAAAAAAAA", "", nil)); got != tt.want {
				t.Errorf("the link's page: form-action %s, want %s", got, tt.want)
			}
			for _, target := range []string{"/start/not-a-link", "/callback?code=c&state=st-csp"} {
				if got := formAction(f.open(t, http.MethodGet, target, "", nil)); got != "'none'" {
					t.Errorf("%s: form-action %s, want 'none'", target, got)
				}
			}
			if got := formAction(f.press(t, "/start/AAAAAAAAAAAAAAAAAAAAAA", nil)); got != "'none'" {
				t.Errorf("the expired page: form-action %s, want 'none'", got)
			}
		})
	}
}

// Another site's page that posts to a start link would bind its visitor's
// browser without the visitor pressing the button (login CSRF: the
// visitor's sign-in reaches the MCP session of whoever made the link).
// Browsers say where a POST comes from; only the link's own page may.
func TestCrossSitePostDoesNotOpenTheLink(t *testing.T) {
	f := newFixture(t, withLinks)
	start := registerLink(t, f, "st-csrf", "")
	for _, site := range []string{"cross-site", "same-site"} {
		rec := f.openWith(t, http.MethodPost, start, nil, "Sec-Fetch-Site", site, "Origin", "https://evil.example")
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "Another website tried to continue this sign-in") {
			t.Fatalf("a %s POST: %d %.300s; want the 403 page", site, rec.Code, rec.Body)
		}
		if c := rec.Result().Cookies(); len(c) != 0 {
			t.Fatalf("a %s POST set cookies: %v", site, c)
		}
	}
	if m := decode(t, f.get(t, "/api/status/st-csrf")); m["status"] != "registered" {
		t.Fatalf("status after cross-site POSTs: %v, want registered", m)
	}
	// A client that says nothing (no browser) is not refused: it could
	// have opened the link as it is.
	wantStatus(t, f.openWith(t, http.MethodPost, start, nil), http.StatusSeeOther)
}

// The attack: the authorization URL (or the start URL) is forwarded to
// someone else, whose sign-in would reach the MCP session of the sender.
func TestForwardedSignInIsRefusedAndStoresNothing(t *testing.T) {
	f := newFixture(t, withLinks)
	start := registerLink(t, f, "st-forwarded", "")
	opener := f.press(t, start, nil).Result().Cookies()

	// The victim's browser never opened the start URL: no cookie, or a
	// cookie of another sign-in.
	other := registerLink(t, f, "st-other", "")
	otherCookies := f.press(t, other, nil).Result().Cookies()
	for name, cookies := range map[string][]*http.Cookie{"no cookie": nil, "another sign-in's cookie": otherCookies} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			var rec *httptest.ResponseRecorder
			if method == http.MethodGet {
				rec = f.open(t, method, "/callback?code=victim-code&state=st-forwarded", "", cookies)
			} else {
				rec = f.open(t, method, "/callback", "code=victim-code&state=st-forwarded", cookies)
			}
			if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "not started in this browser") {
				t.Fatalf("%s, %s: %d %.300s; want the 403 page", name, method, rec.Code, rec.Body)
			}
		}
	}
	if n := f.pending(t); n != 0 {
		t.Fatalf("stored %d callbacks", n)
	}
	waitForMetric(t, f, `oauth_callback_callbacks_received_total{outcome="unbound"} 4`)
	// The person who opened the link still completes, by form_post.
	wantStatus(t, f.open(t, http.MethodPost, "/callback", "code=own-code&state=st-forwarded", opener), http.StatusOK)
	if m := decode(t, f.get(t, "/api/callback/st-forwarded")); m["auth_code"] != "own-code" {
		t.Fatalf("take: %v", m)
	}
}

func TestReturnRedirectSendsTheBrowserBackWithoutTheCode(t *testing.T) {
	f := newFixture(t, withLinks, func(o *httpapi.Options) { o.SignInLinks.ReturnRedirect = true })
	start := registerLink(t, f, "st-back", "https://app.example.com/back?x=1")
	cookies := f.press(t, start, nil).Result().Cookies()
	rec := f.open(t, http.MethodGet, "/callback?code=secret-code&state=st-back", "", cookies)
	wantStatus(t, rec, http.StatusSeeOther)
	if got := rec.Header().Get("Location"); got != "https://app.example.com/back?x=1" {
		t.Fatalf("Location %q", got)
	}
	if strings.Contains(rec.Header().Get("Location")+rec.Body.String(), "secret-code") {
		t.Fatal("the code reached the browser's next URL")
	}
}

func TestSignInLinkRegistrationRules(t *testing.T) {
	good := authorizeURL("st-rule")
	tests := []struct {
		name, body string
		off        bool // the server has no AUTHORIZE_HOSTS
		want       int
	}{
		{"accepted", `{"authorization_url":` + quote(good) + `}`, false, 201},
		{"loopback over http", `{"authorization_url":` + quote("http://127.0.0.1:9/authorize?state=st-rule") + `}`, false, 400}, // not on the allowlist
		{"links off", `{"authorization_url":` + quote(good) + `}`, true, 400},
		{"http", `{"authorization_url":` + quote(strings.Replace(good, "https:", "http:", 1)) + `}`, false, 400},
		{"host not allowed", `{"authorization_url":` + quote(strings.Replace(good, "login.example.com", "evil.example", 1)) + `}`, false, 400},
		{"look-alike host", `{"authorization_url":` + quote(strings.Replace(good, "login.example.com", "login.example.com.evil.example", 1)) + `}`, false, 400},
		{"user info", `{"authorization_url":` + quote(strings.Replace(good, "https://", "https://login.example.com@", 1)) + `}`, false, 400},
		{"other state", `{"authorization_url":` + quote(authorizeURL("someone-else")) + `}`, false, 400},
		{"two states", `{"authorization_url":` + quote(good+"&state=st-rule") + `}`, false, 400},
		{"no state", `{"authorization_url":` + quote(authorize) + `}`, false, 400},
		{"foreign redirect_uri", `{"authorization_url":` + quote(authorize+"&state=st-rule&redirect_uri=https%3A%2F%2Fevil.example%2Fcallback") + `}`, false, 400},
		// Hostile traffic, round 3, item 5: Go's URL.Query drops a pair with
		// ';', browsers and providers keep it, and /start redirected there.
		{"redirect_uri hidden by ';'", `{"authorization_url":` + quote(good+"&redirect_uri=https%3A%2F%2Fevil.example%2Fcb;") + `}`, false, 400},
		{"state hidden by ';'", `{"authorization_url":` + quote(authorize+"&state=OTHER;&state=st-rule&redirect_uri="+url.QueryEscape(publicURL+"/callback")) + `}`, false, 400},
		{"no redirect_uri", `{"authorization_url":` + quote(authorize+"&state=st-rule") + `}`, false, 400},
		{"two redirect_uris", `{"authorization_url":` + quote(good+"&redirect_uri="+url.QueryEscape(publicURL+"/callback")) + `}`, false, 400},
		{"redirect_uri in another case", `{"authorization_url":` + quote(good+"&Redirect_URI=https%3A%2F%2Fevil.example%2Fcb") + `}`, false, 400},
		{"state in another case", `{"authorization_url":` + quote(good+"&STATE=OTHER") + `}`, false, 400},
		{"relative", `{"authorization_url":"/authorize?state=st-rule"}`, false, 400},
		{"javascript", `{"authorization_url":"javascript:alert(1)//?state=st-rule"}`, false, 400},
		{"return_url accepted", `{"authorization_url":` + quote(good) + `,"return_url":"https://app.example.com/x"}`, false, 201},
		{"return_url host not allowed", `{"authorization_url":` + quote(good) + `,"return_url":"https://evil.example/x"}`, false, 400},
		{"return_url without a link", `{"return_url":"https://app.example.com/x"}`, false, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mutate := withLinks
			if tt.off {
				mutate = func(*httpapi.Options) {}
			}
			f := newFixture(t, mutate)
			rec := f.do(t, http.MethodPut, "/api/callback/st-rule", strings.NewReader(tt.body), "Content-Type", "application/json")
			wantStatus(t, rec, tt.want)
			m := decode(t, rec)
			if tt.want == 400 {
				if m["reason"] != "invalid_request" || m["message"] == "" {
					t.Errorf("400 body: %v", m)
				}
				if n := f.store.writes(); n != 0 {
					t.Errorf("registered anyway (%d writes)", n)
				}
			}
		})
	}
}

func TestStatusAndCancel(t *testing.T) {
	f := newFixture(t, withLinks)
	status := func(state string) map[string]any {
		t.Helper()
		rec := f.get(t, "/api/status/"+state)
		wantStatus(t, rec, http.StatusOK)
		m := decode(t, rec)
		if m["state"] != state {
			t.Fatalf("status body: %v", m)
		}
		return m
	}
	if m := status("nobody"); m["status"] != "unknown" || m["expires_at"] != nil {
		t.Fatalf("unknown: %v", m)
	}
	start := registerLink(t, f, "st-s", "")
	if m := status("st-s"); m["status"] != "registered" || m["expires_at"] == nil {
		t.Fatalf("registered: %v", m)
	}
	cookies := f.press(t, start, nil).Result().Cookies()
	if m := status("st-s"); m["status"] != "started" {
		t.Fatalf("started: %v", m)
	}
	f.open(t, http.MethodGet, "/callback?code=c&state=st-s", "", cookies)
	if m := status("st-s"); m["status"] != "received" {
		t.Fatalf("received: %v", m)
	}
	if strings.Contains(f.get(t, "/api/status/st-s").Body.String(), `"c"`) {
		t.Fatal("status hands out the code")
	}

	// Cancel: 204, then later callbacks and takes are refused as cancelled.
	wantStatus(t, f.do(t, http.MethodDelete, "/api/callback/st-s", nil), http.StatusNoContent)
	if m := status("st-s"); m["status"] != "cancelled" {
		t.Fatalf("cancelled: %v", m)
	}
	rec := f.get(t, "/api/callback/st-s")
	wantStatus(t, rec, http.StatusGone)
	if m := decode(t, rec); m["reason"] != "cancelled" {
		t.Fatalf("take after cancel: %v", m)
	}
	mustRegister := f.do(t, http.MethodPut, "/api/callback/st-late", nil)
	wantStatus(t, mustRegister, http.StatusCreated)
	wantStatus(t, f.do(t, http.MethodDelete, "/api/callback/st-late", nil), http.StatusNoContent)
	rec = f.get(t, "/callback?code=late&state=st-late")
	wantStatus(t, rec, http.StatusGone)
	if !strings.Contains(rec.Body.String(), "cancelled this sign-in") {
		t.Errorf("callback after cancel: %.300s", rec.Body)
	}
	rec = f.do(t, http.MethodDelete, "/api/callback/never-seen", nil)
	wantStatus(t, rec, http.StatusNotFound)
	if m := decode(t, rec); m["reason"] != "not_found" {
		t.Errorf("cancel unknown: %v", m)
	}
}

func TestSignInLinkRoutesNeedTheToken(t *testing.T) {
	f := newFixture(t, withLinks, func(o *httpapi.Options) { o.Apps = tokenApps(t, goodToken) })
	wantStatus(t, f.get(t, "/api/status/s"), http.StatusUnauthorized)
	wantStatus(t, f.do(t, http.MethodDelete, "/api/callback/s", nil), http.StatusUnauthorized)
	// The start URL is the browser's: no token, and an unknown one is a
	// page, the link's (GET does not look it up), then the expired one.
	for method, want := range map[string]int{http.MethodGet: http.StatusOK, http.MethodPost: http.StatusNotFound} {
		rec := f.openWith(t, method, "/start/AAAAAAAAAAAAAAAAAAAAAA", nil)
		wantStatus(t, rec, want)
		if !strings.Contains(rec.Header().Get("Content-Type"), "text/html") {
			t.Errorf("%s of an unknown start URL: %s", method, rec.Header().Get("Content-Type"))
		}
	}
}

// A waiting long-poll learns of the cancel at once, not at its next look.
func TestCancelWakesTheWaiter(t *testing.T) {
	f := newFixture(t, withLongPoll(time.Minute, 10))
	wantStatus(t, f.do(t, http.MethodPut, "/api/callback/st-wait", nil), http.StatusCreated)
	held := f.async(t, "/api/callback/st-wait", "Prefer", "wait=30")
	waitForMetric(t, f, "oauth_callback_waiters 1")
	wantStatus(t, f.do(t, http.MethodDelete, "/api/callback/st-wait", nil), http.StatusNoContent)
	rec := await(t, held, 5*time.Second)
	wantStatus(t, rec, http.StatusGone)
	if m := decode(t, rec); m["reason"] != "cancelled" {
		t.Fatalf("waiter's answer: %v", m)
	}
}

// A store that cannot be reached asks the person to try again: the retry
// must still carry the binding, so the cookie is kept on a 5xx.
func TestBindingSurvivesARetryAfterA503(t *testing.T) {
	f := newFixture(t, withLinks)
	start := registerLink(t, f, "st-retry", "")
	cookies := f.press(t, start, nil).Result().Cookies()

	down := newFixtureWithStore(t, &fake.Store{}, withLinks, func(o *httpapi.Options) { o.StoreTimeout = 10 * time.Millisecond })
	rec := down.open(t, http.MethodGet, "/callback?code=c&state=st-retry", "", cookies)
	wantStatus(t, rec, http.StatusServiceUnavailable)
	if cleared := rec.Result().Cookies(); len(cleared) != 0 {
		t.Fatalf("the binding was cleared on a 503: %v", cleared)
	}
	// The retry, with the store back, completes.
	wantStatus(t, f.open(t, http.MethodGet, "/callback?code=c&state=st-retry", "", cookies), http.StatusOK)
}

// The attack of "Hostile traffic, round 3", item 1: the registration's ttl
// ends while the MCP server still waits (docs/clients.md's order: register,
// elicit, wait up to 300 s), and a forwarded authorization URL is
// completed by another person's browser. Before the fix the callback was
// stored (200) and taken by the waiting server.
func TestForwardedSignInAfterTheLinkExpiredIsRefused(t *testing.T) {
	synctest.Test(t, testForwardedSignInAfterTheLinkExpiredIsRefused)
}

func testForwardedSignInAfterTheLinkExpiredIsRefused(t *testing.T) {
	f := newFixture(t, withLinks)
	body := `{"authorization_url":` + quote(authorizeURL("st-late")) + `,"ttl":"5m"}`
	rec := f.do(t, http.MethodPut, "/api/callback/st-late", strings.NewReader(body), "Content-Type", "application/json")
	wantStatus(t, rec, http.StatusCreated)
	start := strings.TrimPrefix(decode(t, rec)["start_url"].(string), publicURL)
	opener := f.press(t, start, nil).Result().Cookies()

	time.Sleep(5*time.Minute + time.Second) // the registration's ttl is over; the wait is not

	rec = f.open(t, http.MethodGet, "/callback?code=victim-code&state=st-late", "", nil)
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "not started in this browser") {
		t.Fatalf("forwarded callback after the link expired: %d %.300s; want the 403 page", rec.Code, rec.Body)
	}
	rec = f.open(t, http.MethodGet, "/callback?code=own-code&state=st-late", "", opener)
	if rec.Code != http.StatusGone || !strings.Contains(rec.Body.String(), "Sign-in link expired") {
		t.Fatalf("the opener's callback after the link expired: %d %.300s; want the 410 expired page", rec.Code, rec.Body)
	}
	if n := f.pending(t); n != 0 {
		t.Fatalf("stored %d callbacks", n)
	}
	rec = f.get(t, "/api/callback/st-late")
	wantStatus(t, rec, http.StatusGone)
	if m := decode(t, rec); m["reason"] != "link_expired" || m["status"] != "error" {
		t.Fatalf("take after the link expired: %v, want 410 link_expired", m)
	}
	if m := decode(t, f.get(t, "/api/status/st-late")); m["status"] != "expired" {
		t.Fatalf("status after the link expired: %v", m)
	}
}
