package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
)

// TestSignInLinkAcrossReplicas: the link registered on A, opened on B, the
// callback on C, the take on A; a second browser is refused on any of them.
func TestSignInLinkAcrossReplicas(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	env := map[string]string{
		"OAUTH_CALLBACK_REDIS_URL":       redis.URL(),
		"OAUTH_CALLBACK_ENCRYPTION_KEY":  strings.Repeat("s", 32),
		"OAUTH_CALLBACK_PUBLIC_URL":      "https://auth.example.com",
		"OAUTH_CALLBACK_AUTHORIZE_HOSTS": "login.example.com",
	}
	a, b, c := startInstance(t, env), startInstance(t, env), startInstance(t, env)
	// The browser: no redirects followed, cookies carried by hand (a jar
	// would not send a Secure cookie over http).
	browser := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, target string, body io.Reader, cookies []*http.Cookie) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, target, body)
		if err != nil {
			t.Fatal(err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	state := "st-across-replicas-0123456789"
	authorize := "https://login.example.com/authorize?client_id=x&state=" + state + "&redirect_uri=" + url.QueryEscape("https://auth.example.com/callback")
	resp := do(http.MethodPut, a.URL+"/api/callback/"+state, strings.NewReader(`{"authorization_url":"`+authorize+`"}`), nil)
	var reg struct {
		StartURL string `json:"start_url"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&reg); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("register on A: %d %v", resp.StatusCode, err)
	}
	path := strings.TrimPrefix(reg.StartURL, "https://auth.example.com")

	// A link scanner's GET on C changes nothing; the button's POST binds.
	if resp = do(http.MethodGet, c.URL+path, nil, nil); resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 0 {
		t.Fatalf("a scanner's GET on C: %d, cookies %v; want the page and none", resp.StatusCode, resp.Cookies())
	}
	resp = do(http.MethodPost, b.URL+path, nil, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != authorize {
		t.Fatalf("start on B: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	cookies := resp.Cookies()
	if got := do(http.MethodPost, c.URL+path, nil, nil).StatusCode; got != http.StatusForbidden {
		t.Fatalf("a second browser on C: %d, want 403", got)
	}
	if got := do(http.MethodPost, c.URL+path, nil, cookies).StatusCode; got != http.StatusSeeOther {
		t.Fatalf("the button again on C: %d, want 303", got)
	}
	if got := do(http.MethodGet, a.URL+"/callback?code=forwarded&state="+state, nil, nil).StatusCode; got != http.StatusForbidden {
		t.Fatalf("a callback without the cookie on A: %d, want 403", got)
	}
	if got := do(http.MethodGet, c.URL+"/callback?code=the-code&state="+state, nil, cookies).StatusCode; got != http.StatusOK {
		t.Fatalf("the callback on C: %d, want 200", got)
	}
	resp = do(http.MethodGet, a.URL+"/api/callback/"+state, nil, nil)
	var took struct {
		AuthCode string `json:"auth_code"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&took); err != nil || took.AuthCode != "the-code" {
		t.Fatalf("take on A: %d %+v %v", resp.StatusCode, took, err)
	}
}
