package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	client "github.com/oauth-callback-server/oauth-callback-server/clients/go"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testnet"
)

// env is one provider, and two replicas of the service on one Redis: the
// browser lands on replica A, the MCP server (the client) waits on B.
type env struct {
	a, b     string
	provider *provider
	oauth    *oauth2.Config
	jwksURL  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	chromiumPath(t) // fail or skip before building anything
	bin := buildService(t)
	redis := redistest.Start(t)
	e := &env{}
	// A is the public address (the browser's); sign-in links start there,
	// and only the test provider's host may be linked to.
	la := testnet.Listen(t)
	e.a = testnet.URL(la)
	// With a token, as an MCP server deployment should run: only then is a
	// registered state's error_description shown on the page.
	common := []string{"OAUTH_CALLBACK_REDIS_URL=" + redis.URL(), "OAUTH_CALLBACK_PRODUCT_NAME=Mail MCP (e2e)",
		"OAUTH_CALLBACK_API_TOKENS=" + signinToken,
		"OAUTH_CALLBACK_PUBLIC_URL=" + e.a, "OAUTH_CALLBACK_AUTHORIZE_HOSTS=127.0.0.1",
		"OAUTH_CALLBACK_ENCRYPTION_KEY=e2e-server-secret-0123456789abcdef"}
	startReplicaOn(t, bin, la, common...)
	e.b = startReplica(t, bin, common...)
	e.provider = startProvider(t, e.a+"/callback")

	resp, err := http.Get(e.provider.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var discovery struct {
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
		JWKSURI               string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&discovery); err != nil {
		t.Fatal(err)
	}
	e.jwksURL = discovery.JWKSURI
	e.oauth = &oauth2.Config{
		ClientID:     e.provider.clientID,
		ClientSecret: e.provider.clientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: discovery.AuthorizationEndpoint, TokenURL: discovery.TokenEndpoint},
		RedirectURL:  e.a + "/callback",
		Scopes:       []string{oidc.ScopeOpenID, oidc.ScopeProfile},
	}
	return e
}

// randomState is what an MCP server sends: 32 random bytes, URL-safe.
func randomState(t *testing.T) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

type waitResult struct {
	res *client.Result
	err error
}

// waitOnB starts the MCP server's wait on replica B before the person signs in.
func (e *env) waitOnB(t *testing.T, state string) <-chan waitResult {
	c, err := client.New(e.b, client.WithToken(signinToken))
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan waitResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		res, err := c.Wait(ctx, state)
		out <- waitResult{res, err}
	}()
	return out
}

func TestSignIn(t *testing.T) {
	e := newEnv(t)
	for _, mode := range []string{"query", "form_post"} {
		t.Run("response_mode="+mode, func(t *testing.T) {
			b := newBrowser(t, true)
			state, verifier := randomState(t), oauth2.GenerateVerifier()
			opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
			if mode == "form_post" {
				opts = append(opts, oauth2.SetAuthURLParam("response_mode", "form_post"))
			}
			waiting := e.waitOnB(t, state)

			b.do(t, chromedp.Navigate(e.oauth.AuthCodeURL(state, opts...)))
			b.do(t, chromedp.Click(chromedp.CSS("#allow")), chromedp.WaitVisible(chromedp.CSS("main h1")))
			e.checkPage(t, b, "Sign-in complete")
			if mode == "query" {
				saveScreenshot(t, b, "success.png")
			}

			got := <-waiting
			if got.err != nil {
				t.Fatalf("Wait on replica B: %v", got.err)
			}
			if got.res.State != state {
				t.Fatalf("state: got %q, want %q", got.res.State, state)
			}
			// The MCP server's half: the code, exchanged with the PKCE
			// verifier, gives tokens, and the ID token verifies.
			ctx := context.Background()
			token, err := e.oauth.Exchange(ctx, got.res.AuthCode, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("token exchange: %v", err)
			}
			idToken, _ := token.Extra("id_token").(string)
			verifierID := rp.NewIDTokenVerifier(e.provider.issuer, e.provider.clientID, rp.NewRemoteKeySet(http.DefaultClient, e.jwksURL))
			claims, err := rp.VerifyIDToken[*oidc.IDTokenClaims](ctx, idToken, verifierID)
			if err != nil {
				t.Fatalf("ID token: %v", err)
			}
			if claims.Subject != "id1" || claims.Issuer != e.provider.issuer {
				t.Errorf("claims: subject %q issuer %q", claims.Subject, claims.Issuer)
			}
			// Exactly once: the code is gone from the service.
			req, _ := http.NewRequest(http.MethodGet, e.b+"/api/callback/"+state, nil)
			req.Header.Set("Authorization", "Bearer "+signinToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusGone {
				t.Errorf("second take: %d, want 410", resp.StatusCode)
			}
		})
	}

	// Entra ID's admin consent: no code comes back, and the MCP server
	// takes kind admin_consent, with the tenant and the scope.
	t.Run("admin consent", func(t *testing.T) {
		b := newBrowser(t, true)
		state := randomState(t)
		waiting := e.waitOnB(t, state)
		consent := e.adminConsentURL(state)
		b.do(t, chromedp.Navigate(consent))
		b.do(t, chromedp.Click(chromedp.CSS("#accept")), chromedp.WaitVisible(chromedp.CSS("main h1")))
		e.checkPage(t, b, "Consent recorded")
		saveScreenshot(t, b, "admin-consent.png")
		got := <-waiting
		if got.err != nil || got.res.Kind != client.KindAdminConsent || got.res.AuthCode != "" ||
			got.res.Tenant() != adminConsentTenant || got.res.Scope() != "https://graph.microsoft.com/.default" {
			t.Fatalf("Wait on replica B: %+v, %v", got.res, got.err)
		}
	})

	t.Run("administrator cancels the consent", func(t *testing.T) {
		b := newBrowser(t, true)
		state := randomState(t)
		waiting := e.waitOnB(t, state)
		consent := e.adminConsentURL(state)
		b.do(t, chromedp.Navigate(consent))
		b.do(t, chromedp.Click(chromedp.CSS("#cancel")), chromedp.WaitVisible(chromedp.CSS("main h1")))
		e.checkPage(t, b, "Sign-in cancelled")
		got := <-waiting
		var pe *client.ProviderError
		if !errors.As(got.err, &pe) || pe.Code != "access_denied" || pe.Result.Params["error_subcode"] != "cancel" {
			t.Fatalf("Wait: %v, want access_denied with error_subcode cancel", got.err)
		}
	})

	t.Run("person denies consent", func(t *testing.T) {
		b := newBrowser(t, true)
		state := randomState(t)
		// Registered, as an MCP server does: only then is the provider's
		// own description shown on the page.
		register(t, e.b, state)
		waiting := e.waitOnB(t, state)
		b.do(t, chromedp.Navigate(e.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))))
		b.do(t, chromedp.Click(chromedp.CSS("#deny")), chromedp.WaitVisible(chromedp.CSS("main h1")))
		e.checkPage(t, b, "Sign-in failed")
		shown := run(t, b, chromedp.Text(chromedp.CSS("dl")))
		if !strings.Contains(shown, "access_denied") || !strings.Contains(shown, "<b>for this app</b>") {
			t.Errorf("the page shows %q: want the error and its description as text", shown)
		}
		if markup := run(t, b, chromedp.Evaluate[bool](`document.querySelector("main b") !== null`)); markup {
			t.Error("the description's markup became an element")
		}
		saveScreenshot(t, b, "error.png")

		got := <-waiting
		var pe *client.ProviderError
		if !errors.As(got.err, &pe) || pe.Code != "access_denied" || pe.Description != denialDescription {
			t.Fatalf("Wait: %v, want the typed provider error", got.err)
		}
	})

	// MCP URL elicitation: the MCP server registers the authorization URL
	// and sends the start URL; only the browser that opened it may
	// complete the sign-in, by query and by form_post.
	for _, mode := range []string{"query", "form_post"} {
		t.Run("sign-in link, response_mode="+mode, func(t *testing.T) {
			state, verifier := randomState(t), oauth2.GenerateVerifier()
			opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
			if mode == "form_post" {
				opts = append(opts, oauth2.SetAuthURLParam("response_mode", "form_post"))
			}
			authURL := e.oauth.AuthCodeURL(state, opts...)
			start := registerLink(t, e.b, state, authURL)
			waiting := e.waitOnB(t, state)

			// A mail or chat previewer fetches the link first.
			scanned, err := http.Get(start)
			if err != nil || scanned.StatusCode != http.StatusOK || len(scanned.Cookies()) != 0 {
				t.Fatalf("a link scanner's GET: %v, %v; want the link's page and no cookie", scanned, err)
			}
			scanned.Body.Close()

			// The person opens the link and presses its button: the form,
			// and the redirect after it, reach the provider (form-action).
			person := newBrowser(t, true)
			person.do(t, chromedp.Navigate(start), chromedp.WaitVisible(chromedp.CSS("form button")))
			e.checkLinkPage(t, person)
			if mode == "query" {
				saveScreenshot(t, person, "sign-in-link.png")
			}
			person.do(t, chromedp.Click(chromedp.CSS("form button")), chromedp.WaitVisible(chromedp.CSS("#allow")))

			// Someone the links were forwarded to, in a browser of their own.
			other := newBrowser(t, true)
			other.do(t, chromedp.Navigate(start), chromedp.WaitVisible(chromedp.CSS("form button")))
			other.do(t, chromedp.Click(chromedp.CSS("form button")), chromedp.WaitVisible(chromedp.CSS("main.fail h1")))
			if h := run(t, other, chromedp.Text(chromedp.CSS("h1"))); h != "Sign-in link opened in another browser" {
				t.Errorf("forwarded start URL: heading %q", h)
			}
			other.do(t, chromedp.Navigate(authURL))
			other.do(t, chromedp.Click(chromedp.CSS("#allow")), chromedp.WaitVisible(chromedp.CSS("main h1")))
			e.checkPage(t, other, "Sign-in not started in this browser")
			if mode == "query" {
				saveScreenshot(t, other, "not-started-here.png")
			}

			person.do(t, chromedp.Click(chromedp.CSS("#allow")), chromedp.WaitVisible(chromedp.CSS("main h1")))
			e.checkPage(t, person, "Sign-in complete")
			got := <-waiting
			if got.err != nil {
				t.Fatalf("Wait on replica B: %v", got.err)
			}
			if _, err := e.oauth.Exchange(context.Background(), got.res.AuthCode, oauth2.VerifierOption(verifier)); err != nil {
				t.Fatalf("token exchange of the person's code: %v", err)
			}
		})
	}

	t.Run("readable at 320 px", func(t *testing.T) {
		b := newBrowser(t, true)
		b.do(t, chromedp.EmulateViewport(320, 640))
		long := strings.Repeat("AADSTS65004: User declined to consent to access the app. ", 5)
		state := randomState(t)
		register(t, e.a, state)
		b.do(t, chromedp.Navigate(e.a+"/callback?error=access_denied&state="+state+"&error_description="+strings.ReplaceAll(long, " ", "+")))
		if overflow := run(t, b, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`)); overflow {
			t.Error("the page scrolls sideways at 320 px")
		}
		e.checkPage(t, b, "Sign-in failed")
	})

	t.Run("works without JavaScript", func(t *testing.T) {
		b := newBrowser(t, false)
		b.do(t, chromedp.Navigate(e.a+"/callback?code=no-js&state="+randomState(t)))
		if h := run(t, b, chromedp.Text(chromedp.CSS("h1"))); h != "Sign-in complete" {
			t.Errorf("heading without JavaScript: %q", h)
		}
	})
}

// checkLinkPage asserts what a sign-in link's page must be in a real
// browser: its button, no CSP violation, readable text.
func (e *env) checkLinkPage(t *testing.T, b *browser) {
	t.Helper()
	if h := run(t, b, chromedp.Text(chromedp.CSS("h1"))); h != "Ready to sign in" {
		t.Errorf("the link's page: heading %q", h)
	}
	if label := run(t, b, chromedp.Text(chromedp.CSS("form button"))); label != "Continue to sign-in" {
		t.Errorf("the link's page: button %q", label)
	}
	if csp := run(t, b, chromedp.Evaluate[[]string](`window.__csp`)); len(csp) > 0 {
		t.Errorf("the link's page: CSP violations: %v", csp)
	}
	if msgs := b.consoleMessages(); len(msgs) > 0 {
		t.Errorf("the link's page: console errors: %v", msgs)
	}
	if ratio := run(t, b, chromedp.Evaluate[float64](contrastJS)); ratio < 4.5 {
		t.Errorf("the link's page: lowest text contrast %.2f:1, want at least 4.5:1", ratio)
	}
}

// adminConsentURL is Entra ID's admin-consent request for state, at the
// test provider.
func (e *env) adminConsentURL(state string) string {
	return e.provider.issuer + "/adminconsent?" + url.Values{"client_id": {e.provider.clientID},
		"scope": {"https://graph.microsoft.com/.default"}, "redirect_uri": {e.a + "/callback"}, "state": {state}}.Encode()
}

// checkPage asserts what every callback page must be in a real browser.
func (e *env) checkPage(t *testing.T, b *browser, heading string) {
	t.Helper()
	if h := run(t, b, chromedp.Text(chromedp.CSS("h1"))); h != heading {
		t.Errorf("heading %q, want %q", h, heading)
	}
	if n := run(t, b, chromedp.Evaluate[int](`document.querySelectorAll("h1").length`)); n != 1 {
		t.Errorf("%d headings, want 1", n)
	}
	if lang := run(t, b, chromedp.Evaluate[string](`document.documentElement.lang`)); lang != "en" {
		t.Errorf("lang %q", lang)
	}
	if title := run(t, b, chromedp.Title()); !strings.HasPrefix(title, heading) || !strings.Contains(title, "Mail MCP (e2e)") {
		t.Errorf("title %q", title)
	}
	href := run(t, b, chromedp.Location())
	if !strings.HasPrefix(href, e.a+"/callback") || strings.Contains(href, "code=") || strings.Contains(href, "state=") {
		t.Errorf("address bar after load: %s", href)
	}
	if csp := run(t, b, chromedp.Evaluate[[]string](`window.__csp`)); len(csp) > 0 {
		t.Errorf("CSP violations: %v", csp)
	}
	if msgs := b.consoleMessages(); len(msgs) > 0 {
		t.Errorf("console errors: %v", msgs)
	}
	// From the callback page on, the browser talks to nobody but the service.
	reqs := b.requestedURLs()
	first := -1
	for i, r := range reqs {
		if strings.HasPrefix(r, e.a+"/callback") {
			first = i
			break
		}
	}
	if first < 0 {
		t.Fatalf("the browser never requested the callback: %v", reqs)
	}
	for _, r := range reqs[first:] {
		if hostOf(r) != hostOf(e.a) {
			t.Errorf("request to %s from the callback page", r)
		}
	}
	if ratio := run(t, b, chromedp.Evaluate[float64](contrastJS)); ratio < 4.5 {
		t.Errorf("lowest text contrast %.2f:1, want at least 4.5:1 (WCAG AA)", ratio)
	}
}

// contrastJS computes the lowest WCAG contrast ratio between the text of
// the page and its background.
const contrastJS = `(() => {
  const lum = c => {
    const [r, g, b] = c.match(/[\d.]+/g).slice(0, 3).map(Number).map(v => {
      v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = el => {
    for (; el; el = el.parentElement) {
      const c = getComputedStyle(el).backgroundColor;
      if (c && c !== "transparent" && !/rgba\(.*,\s*0\)$/.test(c)) return c;
    }
    return "rgb(255, 255, 255)";
  };
  let min = 21;
  for (const el of document.querySelectorAll("h1, p, dt, dd, button")) {
    const a = lum(getComputedStyle(el).color), b = lum(background(el));
    min = Math.min(min, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05));
  }
  return min;
})()`

// register announces state on the replica at base, as an MCP server does
// before it sends the person to sign in.
func register(t *testing.T, base, state string) {
	t.Helper()
	c, err := client.New(base, client.WithToken(signinToken))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Register(context.Background(), state, 0, nil); err != nil {
		t.Fatalf("Register: %v", err)
	}
}

// registerLink registers state with a sign-in link for authURL on the
// replica at base, and returns the start URL.
func registerLink(t *testing.T, base, state, authURL string) string {
	t.Helper()
	c, err := client.New(base, client.WithToken(signinToken))
	if err != nil {
		t.Fatal(err)
	}
	start, err := c.RegisterLink(context.Background(), state, client.Link{AuthorizationURL: authURL}, 0, nil)
	if err != nil {
		t.Fatalf("RegisterLink: %v", err)
	}
	return start
}

// signinToken is the MCP server's API token in the sign-in tests.
const signinToken = "e2e-signin-token-0123456789"

// saveScreenshot keeps a PNG of the page as a test artifact, in
// $E2E_ARTIFACTS or e2e/artifacts.
func saveScreenshot(t *testing.T, b *browser, name string) {
	t.Helper()
	png := run(t, b, chromedp.CaptureScreenshot())
	dir := os.Getenv("E2E_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
