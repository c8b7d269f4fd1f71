package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/redisstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/config"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
)

// loadFor is the configuration env describes, or the test fails.
func loadFor(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// appsWithShares writes an apps file of n apps, each with a share of the
// byte budget.
func appsWithShares(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("apps:\n")
	for i := range n {
		fmt.Fprintf(&b, "  app%04d:\n    tokens: [\"token-of-app-%04d-long-enough-for-anyone\"]\n    memory_share: %g\n", i, i, 0.9/float64(n))
	}
	path := filepath.Join(t.TempDir(), "apps.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const serverlessURL = "rediss://oauth-callbacks-abc123.serverless.euw1.cache.amazonaws.com:6379"

// ElastiCache Serverless refuses a request of more than 3,999 arguments;
// the budget catch-up grows by two per app with a share, so check counts
// them there, and only there.
func TestCheckHoldsTheStoreToServerlessArgumentCap(t *testing.T) {
	tests := []struct {
		name   string
		url    string
		apps   int
		status string // "": no finding
		want   string
	}{
		{"the most apps that fit", serverlessURL, 1994, statusOK, "3998 arguments"},
		{"one app too many", serverlessURL, 1995, statusFail, "sends 4000"},
		{"a node-based cache takes the engine's limits", "rediss://master.oauth-callbacks.abc123.euw1.cache.amazonaws.com:6379", 1995, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadFor(t, map[string]string{"OAUTH_CALLBACK_REDIS_URL": tt.url, "OAUTH_CALLBACK_APPS_FILE": appsWithShares(t, tt.apps)})
			got := checkManagedCache(cfg)
			if tt.status == "" {
				if len(got) != 0 {
					t.Fatalf("got %v, want no finding", got)
				}
				return
			}
			if len(got) != 1 || got[0].Status != tt.status || !strings.Contains(got[0].Message, tt.want) {
				t.Fatalf("got %v, want one %s finding with %q", got, tt.status, tt.want)
			}
		})
	}
}

// The configuration names a serverless cache as surely as its endpoint.
func TestServerlessIsRecognisedByTheAWSSettingOrTheEndpoint(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"its endpoint, with a password", map[string]string{"OAUTH_CALLBACK_REDIS_URL": serverlessURL}, true},
		{"its endpoint as a Cluster address", map[string]string{"OAUTH_CALLBACK_REDIS_CLUSTER_ADDRS": "oauth-abc123.serverless.use1.cache.amazonaws.com:6379", "OAUTH_CALLBACK_REDIS_TLS": "true"}, true},
		{"REDIS_AUTH=aws for a serverless cache", map[string]string{"OAUTH_CALLBACK_REDIS_URL": "rediss://10.0.0.3:6379", "OAUTH_CALLBACK_REDIS_AUTH": "aws",
			"OAUTH_CALLBACK_REDIS_USERNAME": "oauth-iam", "OAUTH_CALLBACK_REDIS_AWS_CACHE_NAME": "oauth", "OAUTH_CALLBACK_REDIS_AWS_SERVICE": "elasticache-serverless"}, true},
		{"a replication group", map[string]string{"OAUTH_CALLBACK_REDIS_URL": "rediss://master.oauth.abc123.euw1.cache.amazonaws.com:6379", "OAUTH_CALLBACK_REDIS_AUTH": "aws",
			"OAUTH_CALLBACK_REDIS_USERNAME": "oauth-iam", "OAUTH_CALLBACK_REDIS_AWS_CACHE_NAME": "oauth"}, false},
		{"a host that only says serverless", map[string]string{"OAUTH_CALLBACK_REDIS_URL": "redis://redis.serverless.example.com:6379"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := onElastiCacheServerless(loadFor(t, tt.env)); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// An evicting policy fails check, with what can be done beside it where
// the operator may not be able to set noeviction; on ElastiCache
// Serverless, which fixes it, it is a warning alone, or helm test could
// never pass there.
func TestCheckSaysWhatToDoAboutAFixedEvictionPolicy(t *testing.T) {
	gcp := map[string]string{"OAUTH_CALLBACK_REDIS_CLUSTER_ADDRS": "10.128.0.3:6379", "OAUTH_CALLBACK_REDIS_AUTH": "gcp", "OAUTH_CALLBACK_REDIS_TLS": "true"}
	serverless := map[string]string{"OAUTH_CALLBACK_REDIS_URL": serverlessURL, "OAUTH_CALLBACK_MAX_MEMORY": "64MiB"}
	tests := []struct {
		name     string
		env      map[string]string
		policy   string
		wantFail bool
		wantWarn string // "": no warning
	}{
		{"ElastiCache Serverless", serverless, "volatile-lru", false, "set the cache's maximum data storage above 96MiB"},
		{"Memorystore", gcp, "volatile-lru", true, "maxmemory-policy=noeviction"},
		{"Memorystore set right", gcp, "noeviction", false, ""},
		{"a Redis of one's own", map[string]string{"OAUTH_CALLBACK_REDIS_URL": "redis://10.0.0.3:6379"}, "volatile-lru", true, ""},
		{"a Redis of one's own set right", map[string]string{"OAUTH_CALLBACK_REDIS_URL": "redis://10.0.0.3:6379"}, "noeviction", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fails, warns []finding
			for _, f := range checkEvictionPolicy(loadFor(t, tt.env), redisstore.Facts{Policy: tt.policy}) {
				switch f.Status {
				case statusFail:
					fails = append(fails, f)
				case statusWarn:
					warns = append(warns, f)
				}
			}
			if got := len(fails) > 0; got != tt.wantFail {
				t.Errorf("failures %v, want a failure: %v", fails, tt.wantFail)
			}
			switch {
			case tt.wantWarn == "" && len(warns) != 0:
				t.Errorf("warnings %v, want none", warns)
			case tt.wantWarn != "" && (len(warns) != 1 || !strings.Contains(warns[0].Message, tt.wantWarn)):
				t.Errorf("warnings %v, want one with %q", warns, tt.wantWarn)
			}
		})
	}
}

// A command the user's ACL (as an IAM user's access string) or the
// managed cache refuses fails check, named, before a sign-in sends it.
func TestCheckTriesEachKindOfCommandTheStoreSends(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		acl    string // the rules after "on >pw"
		status string
		want   string
	}{
		{"everything allowed", "~* &* +@all", "ok", "SET … PX, GETDEL, EVAL, EVALSHA, PUBLISH"},
		{"no EVALSHA", "~* &* +@all -evalsha", "fail", "refuses EVALSHA"},
		{"no PUBLISH", "~* &* +@all -publish", "fail", "refuses PUBLISH"},
		{"keys of another prefix only", "~other:* &* +@all", "fail", "refuses SET … PX"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, "--maxmemory", "256mb", "--maxmemory-policy", "noeviction")
			srv.Cmd(t, append([]string{"ACL", "SETUSER", "store", "on", ">pw-of-the-store"}, strings.Fields(tt.acl)...)...)
			out, err := runCheck(t, map[string]string{"OAUTH_CALLBACK_REDIS_URL": srv.URL(),
				"OAUTH_CALLBACK_REDIS_USERNAME": "store", "OAUTH_CALLBACK_REDIS_PASSWORD": "pw-of-the-store"})
			if (tt.status == "fail") != (err != nil) {
				t.Errorf("check: %v", err)
			}
			wantLine(t, out, tt.status, "store", tt.want)
		})
	}
}
