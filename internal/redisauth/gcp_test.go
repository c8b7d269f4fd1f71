package redisauth_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/redisstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/redisauth"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/authtest"
)

// gcpCloud is Google's side for the shared suite: the metadata server
// (GKE workload identity) or, with keyFile, a service account key whose
// tokens come from Google's token endpoint. The metadata server's address
// is read from the process environment (GCE_METADATA_HOST), so these
// tests do not run in parallel with each other.
func gcpCloud(t *testing.T, keyFile bool) cloud {
	google := authtest.StartGoogle(t, tokenLifetime)
	t.Setenv("GCE_METADATA_HOST", google.MetadataHost())
	vars := map[string]string{}
	if keyFile {
		vars["GOOGLE_APPLICATION_CREDENTIALS"] = google.KeyFile(t, t.TempDir())
	}
	return cloud{
		article: "a Google Cloud IAM", auth: redisstore.AuthGCP, user: "default",
		source: func(t *testing.T) redisauth.Source {
			src, err := redisauth.NewGCP(func(k string) string { return vars[k] }, "", google.TokenURL.Client())
			if err != nil {
				t.Fatal(err)
			}
			return src
		},
		verify:     google.Verify,
		setFailure: google.SetFailure, refusals: google.Refusals,
		refusal: "Permission iam.serviceAccounts.getAccessToken denied", who: authtest.GCPServiceAccount,
	}
}

// TestGCP runs the shared suite with Google Cloud access tokens from the
// metadata server, as Memorystore takes them from a GKE pod.
func TestGCP(t *testing.T) {
	runSuite(t, func(t *testing.T) cloud { return gcpCloud(t, false) })
}

// TestGCPServiceAccountKeyFile: GOOGLE_APPLICATION_CREDENTIALS names a
// service account key instead; its tokens rotate on live connections too.
func TestGCPServiceAccountKeyFile(t *testing.T) {
	testTokensRotateOnLiveConnections(t, gcpCloud(t, true))
}

// TestNewGCPTakesOnlyAWorkloadsCredentials: a developer's own login
// (authorized_user) is refused, with what to use instead; the metadata
// server's identity is the service account it names.
func TestNewGCPTakesOnlyAWorkloadsCredentials(t *testing.T) {
	file := filepath.Join(t.TempDir(), "adc.json")
	if err := os.WriteFile(file, []byte(`{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := redisauth.NewGCP(func(k string) string { return map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": file}[k] }, "", nil)
	if err == nil || !strings.Contains(err.Error(), "authorized_user") || !strings.Contains(err.Error(), "service_account") {
		t.Errorf("a user's login: %v, want a refusal naming what is accepted", err)
	}

	google := authtest.StartGoogle(t, time.Hour)
	t.Setenv("GCE_METADATA_HOST", google.MetadataHost())
	src, err := redisauth.NewGCP(func(string) string { return "" }, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.Username != "default" {
		t.Errorf("user %q, want default (Memorystore ignores it)", tok.Username)
	}
	if _, err := google.Verify(tok.Username, tok.Password); err != nil {
		t.Errorf("Memorystore would refuse the token: %v", err)
	}
	if who := src.Identity().Who; !strings.Contains(who, authtest.GCPServiceAccount) || !strings.Contains(who, "metadata server") {
		t.Errorf("identity %q, want the metadata server's %s", who, authtest.GCPServiceAccount)
	}
}

// A Compute Engine default service account is the node's identity (what
// GKE's metadata server gives when workload identity is off), and the
// identity says so, for check to warn.
func TestGCPSaysWhenItIsTheNodesIdentity(t *testing.T) {
	google := authtest.StartGoogle(t, time.Hour)
	for email, node := range map[string]bool{
		authtest.GCPServiceAccount:                           false,
		"123456789012-compute@developer.gserviceaccount.com": true,
	} {
		path := google.KeyFile(t, t.TempDir())
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		key := map[string]string{}
		if err := json.Unmarshal(body, &key); err != nil {
			t.Fatal(err)
		}
		key["client_email"] = email
		if body, err = json.Marshal(key); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, body, 0o600); err != nil {
			t.Fatal(err)
		}
		src, err := redisauth.NewGCP(func(k string) string { return map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": path}[k] }, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if id := src.Identity(); id.Node != node || !strings.Contains(id.Who, email) {
			t.Errorf("%s: %+v, want Node %v", email, id, node)
		}
	}
}
