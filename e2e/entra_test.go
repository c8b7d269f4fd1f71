package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testlog"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testnet"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testwait"
)

const (
	entraTenant   = "contoso-tenant"
	entraClientID = "0d6f3b1e-7c9a-4e2b-8f51-3a9c2d7e6b10"
	entraObjectID = "a3c5e7f9-1b2d-4f6a-8c0e-2d4f6a8c0e12"
)

// fakeEntraID is Microsoft Entra ID's token endpoint as workload identity
// uses it, on HTTPS with a certificate of its own: OpenID discovery, then
// client credentials with the federated token as the client assertion.
// Every token it issues becomes a password of the object id's ACL user on
// a real redis-server, as Azure Managed Redis accepts Entra ID tokens.
type fakeEntraID struct {
	srv       *httptest.Server
	redis     *redis.Client
	assertion string // the federated token the pod's file holds
	lifetime  time.Duration

	mu      sync.Mutex
	refuse  bool
	issued  int
	expires time.Time
}

func startFakeEntraID(t *testing.T, admin *redis.Client, assertion string, lifetime time.Duration) *fakeEntraID {
	t.Helper()
	f := &fakeEntraID{redis: admin, assertion: assertion, lifetime: lifetime}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /"+entraTenant+"/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		base := f.srv.URL + "/" + entraTenant
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                 base + "/v2.0",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"token_endpoint":         base + "/oauth2/v2.0/token",
		})
	})
	mux.HandleFunc("POST /"+entraTenant+"/oauth2/v2.0/token", f.token)
	f.srv = httptest.NewTLSServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeEntraID) token(w http.ResponseWriter, r *http.Request) {
	refuse := func(code int, e, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": e, "error_description": desc})
	}
	if err := r.ParseForm(); err != nil {
		refuse(http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	switch {
	case r.PostForm.Get("client_id") != entraClientID:
		refuse(http.StatusBadRequest, "unauthorized_client", "AADSTS700016: unknown client "+r.PostForm.Get("client_id"))
		return
	case r.PostForm.Get("client_assertion") != f.assertion:
		refuse(http.StatusUnauthorized, "invalid_client", "AADSTS700211: the client assertion is not the federated token")
		return
	case !slices.Contains(strings.Fields(r.PostForm.Get("scope")), "https://redis.azure.com/.default"):
		refuse(http.StatusBadRequest, "invalid_scope", "AADSTS70011: scope "+r.PostForm.Get("scope"))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse {
		refuse(http.StatusBadRequest, "invalid_grant", "AADSTS700024: Client assertion is not within its valid time range.")
		return
	}
	f.issued++
	enc := base64.RawURLEncoding.EncodeToString
	tok := enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." +
		enc([]byte(fmt.Sprintf(`{"aud":"https://redis.azure.com","oid":%q,"appid":%q,"n":%d}`, entraObjectID, entraClientID, f.issued))) + ".c2lnbmF0dXJl"
	if err := f.redis.Do(r.Context(), "ACL", "SETUSER", entraObjectID, "on", ">"+tok, "~*", "&*", "+@all").Err(); err != nil {
		refuse(http.StatusInternalServerError, "temporarily_unavailable", err.Error())
		return
	}
	f.expires = time.Now().Add(f.lifetime)
	_ = json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": int(f.lifetime / time.Second), "access_token": tok})
}

func (f *fakeEntraID) setRefusing(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refuse = on
}

func (f *fakeEntraID) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.issued
}

func (f *fakeEntraID) lastExpiry() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.expires
}

// certFiles writes the endpoint's self-signed certificate (for 127.0.0.1)
// and its key as PEM files in dir: the binary trusts the certificate as a
// CA through SSL_CERT_FILE, the way a private cloud's would be, and Redis
// serves TLS with the pair.
func (f *fakeEntraID) certFiles(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(f.srv.TLS.Certificates[0].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "key.pem")
	for path, block := range map[string]*pem.Block{cert: {Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}, key: {Type: "PRIVATE KEY", Bytes: der}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cert, key
}

// TestEntraWorkloadIdentity runs the binary as AKS's workload identity
// webhook sets a pod up (AZURE_CLIENT_ID, AZURE_TENANT_ID,
// AZURE_FEDERATED_TOKEN_FILE, AZURE_AUTHORITY_HOST), against a local Entra
// ID and a TLS-only redis-server (as Azure's port 10000) that knows no
// password but the tokens: azidentity's own code reads the token file and
// asks for the tokens. Sign-ins work
// while tokens rotate every few seconds; `check` names the identity; when
// Entra ID refuses and the last token expires, the service answers 503 and
// fails /readyz, says why once, and recovers when tokens come again.
func TestEntraWorkloadIdentity(t *testing.T) {
	bin := buildService(t)
	dir := t.TempDir()
	// Entra ID's endpoint first: its certificate (for 127.0.0.1) is also
	// Redis's, so that Redis is TLS-only, as Azure's port 10000 is.
	entra := startFakeEntraID(t, nil, "eyJhbGciOiJSUzI1NiJ9.federated-service-account-token.sig", 3*time.Second)
	ca, key := entra.certFiles(t, dir)
	// No password reaches the service: the default user has one that
	// only the test knows, so the service must sign in as the object id.
	srv := redistest.StartWith(t, func(_ string, port int) []string {
		return []string{"--port", "0", "--tls-port", strconv.Itoa(port), "--tls-cert-file", ca, "--tls-key-file", key,
			"--tls-ca-cert-file", ca, "--tls-auth-clients", "no", "--user", "default", "on", "resetpass", ">test-admin-only", "~*", "&*", "+@all"}
	})
	roots := x509.NewCertPool()
	roots.AddCert(entra.srv.Certificate())
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr, Password: "test-admin-only", TLSConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}})
	t.Cleanup(func() { _ = admin.Close() })
	entra.redis = admin
	tokenFile := filepath.Join(dir, "azure-identity-token")
	if err := os.WriteFile(tokenFile, []byte(entra.assertion), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"OAUTH_CALLBACK_REDIS_URL=rediss://" + srv.Addr,
		"OAUTH_CALLBACK_REDIS_TLS_CA_FILE=" + ca,
		"OAUTH_CALLBACK_REDIS_AUTH=entra",
		"OAUTH_CALLBACK_STORE_TIMEOUT=1s",
		"AZURE_CLIENT_ID=" + entraClientID,
		"AZURE_TENANT_ID=" + entraTenant,
		"AZURE_FEDERATED_TOKEN_FILE=" + tokenFile,
		"AZURE_AUTHORITY_HOST=" + entra.srv.URL + "/",
		"SSL_CERT_FILE=" + ca,
	}
	if err := admin.Do(context.Background(), "ACL", "SETUSER", entraObjectID, "on", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}

	l := testnet.Listen(t)
	var stderr testlog.Buffer
	cmd := exec.Command(bin)
	sock := testnet.File(t, l)
	cmd.ExtraFiles = []*os.File{sock}
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "OAUTH_CALLBACK_DRAIN_DELAY=0", "OAUTH_CALLBACK_RATE_LIMIT_CALLBACK=0", "OAUTH_CALLBACK_RATE_LIMIT_API=0")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = sock.Close()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("service log:\n%s", stderr.String())
		}
	})
	base := testnet.URL(l)
	testnet.WaitReady(t, base, 30*time.Second)

	client := &http.Client{Timeout: 5 * time.Second}
	status := func(path string) int {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	signIn := func(state string) error {
		if code := status("/callback?code=code-" + state + "&state=" + state); code != http.StatusOK {
			return fmt.Errorf("callback %s: %d", state, code)
		}
		if code := status("/api/callback/" + state); code != http.StatusOK {
			return fmt.Errorf("take %s: %d", state, code)
		}
		return nil
	}

	// Sign-ins across three token rotations.
	first := entra.count()
	for i := 0; entra.count() < first+3; i++ {
		if err := signIn(fmt.Sprintf("entra-%d", i)); err != nil {
			t.Fatalf("during rotation, after %d tokens: %v", entra.count(), err)
		}
		if i > 200_000 {
			t.Fatal("tokens did not rotate")
		}
	}
	if user := clientUsers(t, admin); !user[entraObjectID] {
		t.Errorf("no connection signed in as the object id %s; users: %v", entraObjectID, user)
	}

	// check says who it signed in as.
	chk := exec.Command(bin, "check")
	chk.Env = append(os.Environ(), append(env, "OAUTH_CALLBACK_PORT=0")...)
	out, _ := chk.CombinedOutput()
	for _, want := range []string{"Microsoft Entra ID as workload identity, client id " + entraClientID, "Redis user " + entraObjectID} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check does not say %q:\n%s", want, out)
		}
	}

	// Entra ID refuses; once the last token expires, Azure closes the
	// connections made with it and no longer takes it.
	entra.setRefusing(true)
	testwait.Until(t, 10*time.Second, "the last token expired", func() bool { return time.Now().After(entra.lastExpiry()) })
	if err := admin.Do(context.Background(), "ACL", "SETUSER", entraObjectID, "resetpass").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(context.Background(), "CLIENT", "KILL", "USER", entraObjectID).Err(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/readyz", "/callback?code=c&state=no-token", "/api/callback/no-token"} {
		start := time.Now()
		if code := status(path); code != http.StatusServiceUnavailable {
			t.Errorf("%s without a token: %d, want 503", path, code)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("%s took %v without a token, past the store timeout", path, took)
		}
	}
	testwait.Until(t, 10*time.Second, "the log says which identity has no token and why", func() bool {
		log := stderr.String()
		return strings.Contains(log, "cannot get a Microsoft Entra ID token") && strings.Contains(log, entraClientID) && strings.Contains(log, "AADSTS700024")
	})

	entra.setRefusing(false)
	testwait.Until(t, 20*time.Second, "ready again once Entra ID hands out tokens", func() bool { return status("/readyz") == http.StatusOK })
	if err := signIn("after-recovery"); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if n := strings.Count(stderr.String(), "cannot get a Microsoft Entra ID token"); n != 1 {
		t.Errorf("%d failure lines during one short outage, want one", n)
	}
}

// clientUsers are the ACL users Redis's connections are signed in as.
func clientUsers(t *testing.T, admin *redis.Client) map[string]bool {
	t.Helper()
	list, err := admin.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]bool{}
	for _, field := range strings.Fields(list) {
		if u, ok := strings.CutPrefix(field, "user="); ok {
			users[u] = true
		}
	}
	return users
}
