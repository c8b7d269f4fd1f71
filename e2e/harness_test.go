// Package e2e signs in for real: a real OpenID Connect provider (zitadel's
// op package) in the test process, a real OAuth client (golang.org/x/oauth2
// with PKCE) playing the MCP server, headless Chromium from Debian driven by
// chromedp playing the person, and two replicas of the real binary on one
// real redis-server. It is a module of its own so that those dependencies
// stay out of the service's go.mod.
package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testnet"
)

// buildService builds the service binary once per test run, for every
// test that starts it; TestMain removes it.
func buildService(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "oauth-callback-server-e2e-")
		if err != nil {
			build.err = err
			return
		}
		build.dir = dir
		build.bin = filepath.Join(dir, "oauth-callback-server")
		cmd := exec.Command("go", "build", "-o", build.bin, "./cmd/oauth-callback-server")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("%w\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatalf("build: %v", build.err)
	}
	return build.bin
}

var build struct {
	once     sync.Once
	dir, bin string
	err      error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// startReplica runs one instance of the service and waits until it is ready.
func startReplica(t *testing.T, bin string, env ...string) string {
	t.Helper()
	base, _ := startReplicaOn(t, bin, testnet.Listen(t), env...)
	return base
}

// startReplicaOn is startReplica on a socket the test holds (handed over
// by socket activation), for settings that name the replica's own address
// (OAUTH_CALLBACK_PUBLIC_URL), or for a restart on the same port: the port
// is never free for another test to take. stop ends it (SIGTERM) and
// waits; the test's end does too.
func startReplicaOn(t *testing.T, bin string, l *net.TCPListener, env ...string) (base string, stop func()) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "OAUTH_CALLBACK_DRAIN_DELAY=0", "OAUTH_CALLBACK_LOG_LEVEL=warn")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	sock := testnet.File(t, l)
	cmd.ExtraFiles = []*os.File{sock}
	err := cmd.Start()
	_ = sock.Close() // the child has its own copy
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			// SIGTERM is a clean shutdown: drain, answer the waiters, exit 0.
			if err := cmd.Wait(); err != nil {
				t.Errorf("replica on %s did not stop cleanly: %v", testnet.URL(l), err)
			}
			// Refused while stopped, as a stopped server's port is, so a
			// proxy in front tries another replica; the port stays held.
			testnet.Refuse(t, l)
		})
	}
	t.Cleanup(stop)
	base = testnet.URL(l)
	testnet.WaitReady(t, base, 30*time.Second)
	return base, stop
}

// provider is an OpenID Connect provider with one web client and a login
// page where the test person allows or denies access.
type provider struct {
	issuer       string
	clientID     string
	clientSecret string
}

// denialDescription carries markup, to check that the callback page shows
// it as text.
const denialDescription = `The user declined consent <b>for this app</b>`

func startProvider(t *testing.T, redirectURI string) *provider {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{issuer: "http://" + l.Addr().String(), clientID: "mcp-server", clientSecret: "mcp-server-secret"}
	storage.RegisterClients(storage.WebClient(p.clientID, p.clientSecret, redirectURI))
	st := storage.NewStorage(storage.NewUserStore(p.issuer))
	oidcProvider, err := op.NewProvider(&op.Config{
		CryptoKey:      sha256.Sum256([]byte("e2e test key")),
		CodeMethodS256: true,
		AuthMethodPost: true,
	}, st, op.StaticIssuer(p.issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	router := chi.NewRouter()
	interceptor := op.NewIssuerInterceptor(oidcProvider.IssuerFromRequest)
	router.Get("/login/username", func(w http.ResponseWriter, r *http.Request) {
		_ = loginPage.Execute(w, r.URL.Query().Get("authRequestID"))
	})
	router.Post("/login/username", interceptor.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.FormValue("id")
		if r.FormValue("action") == "deny" {
			authReq, err := st.AuthRequestByID(r.Context(), id)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			op.AuthRequestError(w, r, authReq, oidc.ErrAccessDenied().WithDescription(denialDescription), oidcProvider)
			return
		}
		username := "test-user@127.0.0.1"
		if err := st.CheckUsernamePassword(username, "verysecure", id); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, op.AuthCallbackURL(oidcProvider)(r.Context(), id), http.StatusFound)
	}))
	// Entra ID's admin-consent endpoint, as Microsoft documents it
	// (/{tenant}/v2.0/adminconsent): the administrator grants or
	// cancels, and the browser goes back to the registered redirect URI
	// with admin_consent=True, tenant and scope, and no code; or with
	// Entra's cancel.
	router.Get("/adminconsent", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != p.clientID || q.Get("redirect_uri") != redirectURI || q.Get("state") == "" {
			http.Error(w, "AADSTS50011: the redirect URI or client does not match", http.StatusBadRequest)
			return
		}
		_ = consentPage.Execute(w, q)
	})
	router.Post("/adminconsent", func(w http.ResponseWriter, r *http.Request) {
		back := url.Values{"state": {r.FormValue("state")}}
		if r.FormValue("action") == "accept" {
			back.Set("admin_consent", "True")
			back.Set("tenant", adminConsentTenant)
			back.Set("scope", r.FormValue("scope"))
		} else {
			back.Set("error", "access_denied")
			back.Set("error_subcode", "cancel")
		}
		http.Redirect(w, r, redirectURI+"?"+back.Encode(), http.StatusFound)
	})
	router.Mount("/", oidcProvider)
	srv := &http.Server{Handler: router, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return p
}

var loginPage = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Test provider</title></head>
<body><h1>Sign in to the test provider</h1>
<form method="post" action="/login/username">
<input type="hidden" name="id" value="{{.}}">
<button id="allow" name="action" value="allow">Allow</button>
<button id="deny" name="action" value="deny">Deny</button>
</form></body></html>`))

// adminConsentTenant is the tenant the test provider's admin consent
// names, as Entra names the administrator's organisation.
const adminConsentTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"

var consentPage = template.Must(template.New("consent").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Test provider</title></head>
<body><h1>Grant consent for your organisation</h1>
<form method="post" action="/adminconsent">
<input type="hidden" name="state" value="{{.Get "state"}}">
<input type="hidden" name="scope" value="{{.Get "scope"}}">
<button id="accept" name="action" value="accept">Accept</button>
<button id="cancel" name="action" value="cancel">Cancel</button>
</form></body></html>`))

func (p *provider) String() string { return fmt.Sprintf("provider %s", p.issuer) }
