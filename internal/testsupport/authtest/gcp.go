package authtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/redisauth"
)

// GCPServiceAccount is the service account the Google stand-ins issue
// tokens for.
const GCPServiceAccount = "oauth-callback@example-project.iam.gserviceaccount.com"

// Google plays GKE's metadata server (plain HTTP, as at
// metadata.google.internal; GCE_METADATA_HOST is Metadata's host) and
// Google's OAuth token endpoint for service account keys (HTTPS), both
// handing out access tokens of Lifetime, and checks them as Memorystore
// would.
type Google struct {
	Metadata *httptest.Server
	TokenURL *httptest.Server
	Lifetime time.Duration

	mu      sync.Mutex
	fail    string
	issued  int
	refused int
	tokens  map[string]time.Time
}

// StartGoogle starts both stand-ins; they stop when the test ends.
func StartGoogle(t testing.TB, lifetime time.Duration) *Google {
	t.Helper()
	g := &Google{Lifetime: lifetime, tokens: map[string]time.Time{}}
	g.Metadata = httptest.NewServer(http.HandlerFunc(g.metadata))
	t.Cleanup(g.Metadata.Close)
	g.TokenURL = httptest.NewTLSServer(http.HandlerFunc(g.tokenEndpoint))
	t.Cleanup(g.TokenURL.Close)
	return g
}

// MetadataHost is GCE_METADATA_HOST for the metadata stand-in.
func (g *Google) MetadataHost() string { return strings.TrimPrefix(g.Metadata.URL, "http://") }

// SetFailure makes both refuse with msg in the error ("" to stop).
func (g *Google) SetFailure(msg string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fail = msg
}

// Refusals is how many token requests were refused.
func (g *Google) Refusals() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refused
}

// Issued is how many tokens were handed out.
func (g *Google) Issued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.issued
}

// Verify checks an access token as Memorystore does: one of ours, not
// expired (Memorystore ignores the user name).
func (g *Google) Verify(_, password string) (time.Time, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	expires, ok := g.tokens[password]
	if !ok {
		return time.Time{}, errors.New("not an access token Google issued")
	}
	return expires, nil
}

// issue makes an access token, or says why not.
func (g *Google) issue() (string, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fail != "" {
		g.refused++
		return "", g.fail
	}
	g.issued++
	tok := fmt.Sprintf("ya29.stand-in-%d-%s", g.issued, randomHex(12))
	g.tokens[tok] = time.Now().Add(g.Lifetime)
	return tok, ""
}

func (g *Google) answer(w http.ResponseWriter) {
	tok, refusal := g.issue()
	if refusal != "" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "access_denied", "error_description": refusal})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": int(g.Lifetime / time.Second), "token_type": "Bearer"})
}

func (g *Google) metadata(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Metadata-Flavor") != "Google" {
		http.Error(w, "missing Metadata-Flavor: Google", http.StatusForbidden)
		return
	}
	w.Header().Set("Metadata-Flavor", "Google")
	switch r.URL.Path {
	case "/computeMetadata/v1/instance/service-accounts/default/token":
		if scopes := r.URL.Query().Get("scopes"); scopes != redisauth.GCPScope {
			http.Error(w, "scopes "+scopes, http.StatusBadRequest)
			return
		}
		g.answer(w)
	case "/computeMetadata/v1/instance/service-accounts/default/email":
		fmt.Fprint(w, GCPServiceAccount)
	default:
		http.NotFound(w, r)
	}
}

// tokenEndpoint answers the JWT bearer grant of a service account key.
// The assertion's signature is not checked: what is under test is that
// the service asks, and uses what it gets.
func (g *Google) tokenEndpoint(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || r.PostForm.Get("assertion") == "" {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		return
	}
	g.answer(w)
}

// KeyFile writes a service account key whose token endpoint is the
// stand-in's, for GOOGLE_APPLICATION_CREDENTIALS.
func (g *Google) KeyFile(t testing.TB, dir string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "example-project", "private_key_id": "k1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": GCPServiceAccount, "client_id": "1", "token_uri": g.TokenURL.URL + "/token",
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "service-account.json")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
