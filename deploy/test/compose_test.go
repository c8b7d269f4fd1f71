package deploytest

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/oauth-callback-server/oauth-callback-server/internal/apps"
)

// TestCompose loads docker-compose.yml with the Compose specification's own
// loader (what docker compose uses) and checks what `docker compose up`
// will run.
func TestCompose(t *testing.T) {
	root := repoRoot(t)
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithOsEnv)
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	svc := func(name string) types.ServiceConfig {
		t.Helper()
		s, ok := project.Services[name]
		if !ok {
			t.Fatalf("no service %s; have %v", name, project.ServiceNames())
		}
		return s
	}

	redis := svc("redis")
	if !strings.HasPrefix(redis.Image, "redis:") {
		t.Errorf("redis image %q, want the official redis image", redis.Image)
	}
	if hc := redis.HealthCheck; hc == nil || !strings.Contains(strings.Join(hc.Test, " "), "redis-cli ping") {
		t.Errorf("redis health check: %+v", redis.HealthCheck)
	}
	if cmd := strings.Join(redis.Command, " "); !strings.Contains(cmd, "--save") || !strings.Contains(cmd, "--appendonly no") {
		t.Errorf("redis command %q: want persistence off", cmd)
	}
	if cmd := strings.Join(redis.Command, " "); !strings.Contains(cmd, "--maxmemory 192mb --maxmemory-policy noeviction") || redis.MemLimit != 256<<20 {
		t.Errorf("redis command %q, mem_limit %d: want maxmemory with noeviction inside the container's limit", cmd, redis.MemLimit)
	}

	published := map[string]string{}
	for _, name := range []string{"oauth-callback-server-a", "oauth-callback-server-b"} {
		s := svc(name)
		if s.Build == nil || s.Build.Context != root {
			t.Errorf("%s: build %+v, want the repository's Dockerfile", name, s.Build)
		}
		if url := s.Environment["OAUTH_CALLBACK_REDIS_URL"]; url == nil || *url != "redis://redis:6379" {
			t.Errorf("%s: OAUTH_CALLBACK_REDIS_URL %v", name, url)
		}
		appsMounted := false
		for _, v := range s.Volumes {
			appsMounted = appsMounted || v.Source == filepath.Join(root, "deploy", "compose", "apps") && v.Target == "/etc/oauth-callback-server/apps" && v.ReadOnly
		}
		if !appsMounted {
			t.Errorf("%s: deploy/compose/apps is not mounted read-only at /etc/oauth-callback-server/apps: %+v", name, s.Volumes)
		}
		for _, v := range []string{"OAUTH_CALLBACK_API_TOKENS", "OAUTH_CALLBACK_APPS_FILE", "OAUTH_CALLBACK_ENCRYPTION_KEY", "OAUTH_CALLBACK_TRUSTED_PROXIES"} {
			if _, ok := s.Environment[v]; !ok {
				t.Errorf("%s: %s is not passed through", name, v)
			}
		}
		if dep, ok := s.DependsOn["redis"]; !ok || dep.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s: depends_on redis %+v, want service_healthy", name, dep)
		}
		if !s.ReadOnly || len(s.CapDrop) != 1 || s.CapDrop[0] != "ALL" {
			t.Errorf("%s: read_only %v cap_drop %v", name, s.ReadOnly, s.CapDrop)
		}
		for _, p := range s.Ports {
			published[p.Published] = name
		}
		// Hostile traffic, round 3, item 4: the replicas trust nginx's
		// address alone, never a private range.
		if v := s.Environment["OAUTH_CALLBACK_TRUSTED_PROXIES"]; v == nil || *v != "172.30.80.2" {
			t.Errorf("%s: OAUTH_CALLBACK_TRUSTED_PROXIES %v, want nginx's fixed address 172.30.80.2 only", name, v)
		}
	}
	if len(published) != 0 {
		t.Errorf("replica ports published %v: only nginx may be reachable, or a client skips it", published)
	}

	proxy := svc("proxy")
	if len(proxy.Ports) != 1 || proxy.Ports[0].Published != "8000" || proxy.Ports[0].Target != 8000 {
		t.Errorf("proxy ports %+v, want 8000:8000", proxy.Ports)
	}
	if n, ok := proxy.Networks["edge"]; !ok || n == nil || n.Ipv4Address != "172.30.80.2" {
		t.Errorf("proxy networks %+v, want edge at 172.30.80.2", proxy.Networks)
	}
	if _, ok := svc("redis").Networks["edge"]; ok {
		t.Errorf("redis is on nginx's network")
	}
	for _, name := range []string{"oauth-callback-server-a", "oauth-callback-server-b"} {
		if dep, ok := proxy.DependsOn[name]; !ok || dep.Condition != types.ServiceConditionHealthy {
			t.Errorf("proxy depends_on %s: %+v", name, dep)
		}
	}
	if len(proxy.Volumes) != 1 {
		t.Fatalf("proxy volumes: %+v", proxy.Volumes)
	}
	conf, err := os.ReadFile(proxy.Volumes[0].Source)
	if err != nil {
		t.Fatalf("nginx config: %v", err)
	}
	for _, want := range []string{"server oauth-callback-server-a:8000;", "server oauth-callback-server-b:8000;", "listen 8000;", "proxy_next_upstream error;",
		"proxy_set_header X-Forwarded-For $remote_addr;"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
	// The proxy must outwait the longest long-poll (60 s by default).
	m := regexp.MustCompile(`proxy_read_timeout (\d+)s;`).FindStringSubmatch(string(conf))
	if m == nil {
		t.Fatal("no proxy_read_timeout")
	}
	if secs, _ := strconv.Atoi(m[1]); secs <= 60 {
		t.Errorf("proxy_read_timeout %ds, want more than OAUTH_CALLBACK_MAX_WAIT (60 s)", secs)
	}
}

// TestComposeAppsExample: the example apps file is one the service reads,
// with two apps, and its digests match no token anyone could send.
func TestComposeAppsExample(t *testing.T) {
	found, errs := apps.ReadFile(filepath.Join(repoRoot(t), "deploy", "compose", "apps", "apps.example.yaml"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	resolved, errs := apps.Resolve(nil, found)
	if len(errs) > 0 || len(resolved) != 2 || resolved[0].Name != "files" || resolved[1].MemoryShare != 0.6 || resolved[1].RateLimitRegister != 120 {
		t.Fatalf("apps %+v, %v", resolved, errs)
	}
	for _, a := range resolved {
		for _, d := range a.Digests {
			if strings.Trim(hex.EncodeToString(d[:]), "01") != "" {
				t.Errorf("app %s: the example's digest %x may be some token's", a.Name, d)
			}
		}
	}
}
