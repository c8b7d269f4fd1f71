package e2e

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/redisauth"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/authtest"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testlog"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testnet"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testwait"
)

// service is one run of the binary, its log kept.
type service struct {
	base string
	log  *testlog.Buffer
	env  []string
	bin  string
}

// runService starts the binary with env (over the test's own environment
// less the variables a cloud SDK would read from this machine) and waits
// until it is ready.
func runService(t *testing.T, env ...string) *service {
	t.Helper()
	bin := buildService(t)
	env = append(cleanCloudEnv(t), env...)
	l := testnet.Listen(t)
	s := &service{base: testnet.URL(l), log: &testlog.Buffer{}, env: env, bin: bin}
	cmd := exec.Command(bin)
	sock := testnet.File(t, l)
	cmd.ExtraFiles = []*os.File{sock}
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "OAUTH_CALLBACK_DRAIN_DELAY=0", "OAUTH_CALLBACK_RATE_LIMIT_CALLBACK=0",
		"OAUTH_CALLBACK_RATE_LIMIT_API=0", "OAUTH_CALLBACK_STORE_TIMEOUT=1s")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = sock.Close()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("service log:\n%s", s.log.String())
		}
	})
	testnet.WaitReady(t, s.base, 30*time.Second)
	return s
}

// cleanCloudEnv empties what this machine's environment might say to the
// AWS SDK or Google's library (later entries of a command's environment
// win), so that only what a test gives is used.
func cleanCloudEnv(t *testing.T) []string {
	dir := t.TempDir()
	env := []string{"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true", "GCE_METADATA_HOST=127.0.0.1:1"}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ROLE_ARN",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_REGION",
		"AWS_DEFAULT_REGION", "AWS_CA_BUNDLE", "GOOGLE_APPLICATION_CREDENTIALS"} {
		env = append(env, k+"=")
	}
	return env
}

func (s *service) status(t *testing.T, path string) int {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(s.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (s *service) signIn(t *testing.T, state string) error {
	t.Helper()
	if code := s.status(t, "/callback?code=code-"+state+"&state="+state); code != http.StatusOK {
		return fmt.Errorf("callback %s: %d", state, code)
	}
	if code := s.status(t, "/api/callback/"+state); code != http.StatusOK {
		return fmt.Errorf("take %s: %d", state, code)
	}
	return nil
}

// check runs `oauth-callback-server check` with the service's settings.
func (s *service) check(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(s.bin, "check")
	cmd.Env = append(os.Environ(), append(s.env, "OAUTH_CALLBACK_PORT=0", "OAUTH_CALLBACK_STORE_TIMEOUT=1s")...)
	out, _ := cmd.CombinedOutput()
	return string(out)
}

// noErrorAtStart: a healthy start logs nothing at ERROR, and never sends
// go-redis's maintenance-notification handshake, which ElastiCache,
// MemoryDB, Memorystore and open-source Redis answer with an error.
func noErrorAtStart(t *testing.T, s *service, gate *authtest.Gate) {
	t.Helper()
	if strings.Contains(s.log.String(), `"level":"ERROR"`) {
		t.Errorf("a healthy start logged an error:\n%s", s.log.String())
	}
	if n := gate.Seen("CLIENT MAINT_NOTIFICATIONS"); n > 0 {
		t.Errorf("%d maintenance-notification handshakes sent to a server that does not speak them", n)
	}
	if gate.Seen("HELLO") == 0 {
		t.Error("the gate saw no HELLO: it is not in the way of the sign-ins")
	}
}

// rotate signs in until the cache has accepted three more tokens.
func rotate(t *testing.T, s *service, cache *authtest.Cache, prefix string) {
	t.Helper()
	first := cache.Accepted()
	for i := 0; cache.Accepted() < first+3; i++ {
		if err := s.signIn(t, fmt.Sprintf("%s-%d", prefix, i)); err != nil {
			t.Fatalf("during rotation, after %d tokens: %v", cache.Accepted(), err)
		}
		if i > 200_000 {
			t.Fatal("tokens did not rotate")
		}
	}
}

// outageAndRecovery: the identity service refuses; once the last token
// expires, the cache closes the connections made with it and takes it no
// more: 503 and a failing /readyz, within the store timeout; one log line
// names the identity and the cause; when tokens come again, ready again.
func outageAndRecovery(t *testing.T, s *service, cache *authtest.Cache, setFailure func(string), refusal, who, cloud string) {
	t.Helper()
	setFailure(refusal)
	testwait.Until(t, 10*time.Second, "the last token expired", func() bool { return time.Now().After(cache.LastExpiry()) })
	if err := cache.WithdrawAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/readyz", "/callback?code=c&state=no-token", "/api/callback/no-token"} {
		start := time.Now()
		if code := s.status(t, path); code != http.StatusServiceUnavailable {
			t.Errorf("%s without a token: %d, want 503", path, code)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("%s took %v without a token, past the store timeout", path, took)
		}
	}
	testwait.Until(t, 10*time.Second, "the log says which identity has no token and why", func() bool {
		log := s.log.String()
		return strings.Contains(log, "cannot get "+cloud+" token") && strings.Contains(log, who) && strings.Contains(log, refusal)
	})
	setFailure("")
	testwait.Until(t, 20*time.Second, "ready again once tokens come", func() bool { return s.status(t, "/readyz") == http.StatusOK })
	if err := s.signIn(t, "after-recovery"); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if n := strings.Count(s.log.String(), "cannot get "+cloud+" token"); n != 1 {
		t.Errorf("%d failure lines during one short outage, want one", n)
	}
}

func pemFile(t *testing.T, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAWSIRSA runs the binary as EKS's IRSA webhook sets a pod up
// (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE, AWS_REGION), against a local
// STS (AWS_ENDPOINT_URL_STS, trusted through AWS_CA_BUNDLE) and a TLS-only
// redis-server behind a gate that checks each IAM token's SigV4 signature
// and expiry as ElastiCache does: the AWS SDK's own code reads the token
// file and assumes the role. Credentials live 3 s, so tokens do too.
// Sign-ins work across rotations; check names the role and the Redis user;
// an STS outage is a 503 with one log line, and recovery needs no restart.
func TestAWSIRSA(t *testing.T) {
	sts := authtest.StartSTS(t, 3*time.Second)
	cfg := redisauth.AWSConfig{Service: redisauth.AWSElastiCache, CacheName: "oauth-cache", Username: "oauth-iam"}
	redis := authtest.StartTLSRedis(t)
	cache, err := authtest.NewCache(context.Background(), []string{redis.Addr}, redis.Client, cfg.Username,
		func(_, password string) (time.Time, error) { return sts.VerifyConnect(cfg, password) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	gate := authtest.StartGate(t, redis, cache)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(authtest.WebIdentityJWT), 0o600); err != nil {
		t.Fatal(err)
	}
	s := runService(t,
		"OAUTH_CALLBACK_REDIS_URL=rediss://"+gate.Addr, "OAUTH_CALLBACK_REDIS_TLS_CA_FILE="+redis.CAFile,
		"OAUTH_CALLBACK_REDIS_AUTH=aws", "OAUTH_CALLBACK_REDIS_USERNAME="+cfg.Username, "OAUTH_CALLBACK_REDIS_AWS_CACHE_NAME="+cfg.CacheName,
		"AWS_REGION="+authtest.AWSRegion, "AWS_ROLE_ARN="+authtest.AWSRoleARN, "AWS_WEB_IDENTITY_TOKEN_FILE="+tokenFile,
		"AWS_ENDPOINT_URL_STS="+sts.HTTPS.URL, "AWS_CA_BUNDLE="+pemFile(t, sts.HTTPS.Certificate().Raw))
	noErrorAtStart(t, s, gate)

	rotate(t, s, cache, "aws")
	out := s.check(t)
	for _, want := range []string{"AWS IAM as IRSA web identity, role " + authtest.AWSRoleARN, "Redis user " + cfg.Username, "Redis takes the kinds of command the store sends"} {
		if !strings.Contains(out, want) {
			t.Errorf("check does not say %q:\n%s", want, out)
		}
	}
	outageAndRecovery(t, s, cache, sts.SetFailure, "the role's trust policy does not name this service account", authtest.AWSRoleARN, "an AWS IAM")
}

// TestGCPWorkloadIdentity runs the binary as a GKE pod with workload
// identity, its metadata server played locally (GCE_METADATA_HOST), against
// a TLS-only redis-server behind a gate that accepts, as Memorystore does,
// exactly the access tokens Google issued and not yet expired (3 s here).
func TestGCPWorkloadIdentity(t *testing.T) {
	google := authtest.StartGoogle(t, 3*time.Second)
	redis := authtest.StartTLSRedis(t)
	cache, err := authtest.NewCache(context.Background(), []string{redis.Addr}, redis.Client, "default", google.Verify)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	gate := authtest.StartGate(t, redis, cache)
	s := runService(t,
		"OAUTH_CALLBACK_REDIS_URL=rediss://"+gate.Addr, "OAUTH_CALLBACK_REDIS_TLS_CA_FILE="+redis.CAFile,
		"OAUTH_CALLBACK_REDIS_AUTH=gcp", "GCE_METADATA_HOST="+google.MetadataHost())
	noErrorAtStart(t, s, gate)

	rotate(t, s, cache, "gcp")
	out := s.check(t)
	for _, want := range []string{"Google Cloud IAM as the metadata server's service account (GKE workload identity) " + authtest.GCPServiceAccount, "Redis user default", "Redis takes the kinds of command the store sends"} {
		if !strings.Contains(out, want) {
			t.Errorf("check does not say %q:\n%s", want, out)
		}
	}
	outageAndRecovery(t, s, cache, google.SetFailure, "Permission iam.serviceAccounts.getAccessToken denied", authtest.GCPServiceAccount, "a Google Cloud IAM")
}

// TestPasswordStartHasNoError: the same healthy start with a password, as
// ElastiCache's or Memorystore's AUTH tokens and self-hosted Redis have it.
func TestPasswordStartHasNoError(t *testing.T) {
	redis := authtest.StartTLSRedis(t)
	gate := authtest.StartGate(t, redis, nil)
	s := runService(t,
		"OAUTH_CALLBACK_REDIS_URL=rediss://"+gate.Addr, "OAUTH_CALLBACK_REDIS_TLS_CA_FILE="+redis.CAFile,
		"OAUTH_CALLBACK_REDIS_USERNAME="+authtest.AdminUser, "OAUTH_CALLBACK_REDIS_PASSWORD="+authtest.AdminPassword)
	if err := s.signIn(t, "password"); err != nil {
		t.Fatal(err)
	}
	noErrorAtStart(t, s, gate)
}
