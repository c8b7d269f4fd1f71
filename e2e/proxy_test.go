package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/config"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testnet"
)

// The compose proxy, for real: Debian's nginx with deploy/compose/nginx.conf
// as shipped (only the upstream addresses and the listen port rewritten to
// loopback), in front of two replicas of the binary on one redis-server.
// Browsers and MCP servers are played by HTTP clients bound to addresses of
// their own in 127.0.0.0/8, so that the service can tell them from nginx
// (127.0.0.1), which it trusts as compose's replicas trust the compose
// network.

func nginxPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/sbin/nginx"} {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
		if os.Getenv("CI") != "" {
			t.Fatal("nginx is missing (CI): apt-get install nginx")
		}
		t.Skip("nginx is not installed (apt-get install nginx)")
	}
	return path
}

// composeTrustedProxies is OAUTH_CALLBACK_TRUSTED_PROXIES as
// docker-compose.yml sets it.
func composeTrustedProxies(t *testing.T) string {
	t.Helper()
	compose, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s+OAUTH_CALLBACK_TRUSTED_PROXIES: (\S+)$`).FindSubmatch(compose)
	if m == nil {
		t.Fatal("docker-compose.yml sets no OAUTH_CALLBACK_TRUSTED_PROXIES")
	}
	return string(m[1])
}

type proxied struct {
	url      string // nginx
	replicas []string
	metrics  []string // each replica's metrics listener, where Prometheus scrapes
	stop     []func()
	redis    *redistest.Server
}

// startProxied starts redis, n replicas and nginx: compose's two, and a
// third as a scaled-out deployment would have. env is added to the
// replicas' settings.
func startProxied(t *testing.T, n int, env ...string) *proxied {
	t.Helper()
	nginx := nginxPath(t)
	bin := buildService(t)
	p := &proxied{redis: redistest.Start(t)}
	common := append([]string{"OAUTH_CALLBACK_REDIS_URL=" + p.redis.URL(),
		// As compose sets it, and the loopback address this test's nginx
		// connects from, which stands for the compose network.
		"OAUTH_CALLBACK_TRUSTED_PROXIES=" + composeTrustedProxies(t) + ",127.0.0.1"}, env...)
	for range n {
		metricsAddr := "127.0.0.1:" + strconv.Itoa(testnet.ReservePort(t))
		base, stop := startReplicaOn(t, bin, testnet.Listen(t), slices.Concat(common, []string{"OAUTH_CALLBACK_METRICS_ADDR=" + metricsAddr})...)
		p.replicas, p.stop = append(p.replicas, base), append(p.stop, stop)
		p.metrics = append(p.metrics, "http://"+metricsAddr)
	}
	var more string
	for _, r := range p.replicas[2:] {
		more += "\n    server " + strings.TrimPrefix(r, "http://") + ";"
	}

	shipped, err := os.ReadFile("../deploy/compose/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(shipped)
	listen := testnet.ReservePort(t) // nginx must be told its port
	for old, repl := range map[string]string{
		"server oauth-callback-server-a:8000;": "server " + strings.TrimPrefix(p.replicas[0], "http://") + ";",
		"server oauth-callback-server-b:8000;": "server " + strings.TrimPrefix(p.replicas[1], "http://") + ";" + more,
		"listen 8000;":                         "listen 127.0.0.1:" + strconv.Itoa(listen) + ";",
	} {
		if !strings.Contains(conf, old) {
			t.Fatalf("deploy/compose/nginx.conf no longer has %q: update this test", old)
		}
		conf = strings.Replace(conf, old, repl, 1)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil { // nginx's workers may run as nobody
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", dir, "-c", confPath, "-e", "stderr", "-g", "daemon off; pid "+filepath.Join(dir, "nginx.pid")+";")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		_ = cmd.Wait()
	})
	p.url = "http://127.0.0.1:" + strconv.Itoa(listen)
	testnet.WaitReady(t, p.url, 10*time.Second)
	return p
}

// clientFrom is an HTTP client whose connections come from addr, a
// loopback address of its own: one browser or MCP server.
func clientFrom(addr string) *http.Client {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(addr)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 90 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext}}
}

func get(t *testing.T, c *http.Client, target string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func metricValue(t *testing.T, base, series string, header ...string) float64 {
	t.Helper()
	_, _, body := get(t, http.DefaultClient, base+"/metrics", header...)
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

func TestComposeProxy(t *testing.T) {
	const limit = 5
	p := startProxied(t, 3, "OAUTH_CALLBACK_RATE_LIMIT_CALLBACK="+strconv.Itoa(limit), "OAUTH_CALLBACK_MAX_WAIT=2s", "OAUTH_CALLBACK_STORE_TIMEOUT=300ms")
	mcp := clientFrom("127.0.0.5")

	t.Run("callbacks and takes spread over the replicas, each exactly once", func(t *testing.T) {
		for i := range 6 { // round-robin: callback on one replica, take on the next
			state := fmt.Sprintf("through-nginx-%d", i)
			// The MCP server polls before the person signs in; four
			// requests a sign-in also move each one to the next replica.
			if code, _, _ := get(t, mcp, p.url+"/api/callback/"+state); code != http.StatusNotFound {
				t.Fatalf("poll before the callback: %d, want 404", code)
			}
			if code, _, _ := get(t, clientFrom("127.0.1."+strconv.Itoa(i+1)), p.url+"/callback?code=c&state="+state); code != http.StatusOK {
				t.Fatalf("callback through nginx: %d", code)
			}
			if code, _, body := get(t, mcp, p.url+"/api/callback/"+state); code != http.StatusOK || !strings.Contains(body, `"auth_code":"c"`) {
				t.Fatalf("take through nginx: %d %s", code, body)
			}
			if code, _, _ := get(t, mcp, p.url+"/api/callback/"+state); code != http.StatusGone {
				t.Fatalf("second take through nginx: %d, want 410", code)
			}
		}
		for _, r := range p.metrics {
			stored := metricValue(t, r, `oauth_callback_callbacks_received_total{outcome="stored"}`)
			took := metricValue(t, r, `oauth_callback_takes_total{code="200"}`)
			if stored == 0 || took == 0 {
				t.Errorf("replica %s stored %v and handed out %v: nginx did not spread the requests", r, stored, took)
			}
		}
	})

	// sent sends requests callbacks from c through nginx (rotating
	// X-Forwarded-For when forge is set) and counts those the rate limit
	// let through (any answer but 429), and how long that took.
	sent := func(c *http.Client, forge bool, requests int) (through int, took time.Duration) {
		start := time.Now()
		for i := range requests {
			var header []string
			if forge {
				header = []string{"X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i)}
			}
			code, _, _ := get(t, c, fmt.Sprintf("%s/callback?code=c&state=limit-%d-%d", p.url, time.Now().UnixNano(), i), header...)
			if code != http.StatusTooManyRequests {
				through++
			}
		}
		return through, time.Since(start)
	}
	// atMost is what the shared limit (GCRA: a burst of the limit, then
	// one per minute/limit) can let through in d.
	atMost := func(d time.Duration) int { return limit + int(d/(time.Minute/limit)) }

	t.Run("rate limits hold across the replicas, per client from X-Forwarded-For, and a forged one buys nothing", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			client *http.Client
			forge  bool
		}{
			{"one client", clientFrom("127.0.0.2"), false},
			{"a client forging X-Forwarded-For", clientFrom("127.0.0.3"), true},
			// Hostile traffic, round 3, item 4: a client whose own address
			// the replicas trust (compose trusted every private range)
			// rotated X-Forwarded-For, nginx appended to it, and the client
			// picked a fresh bucket per request. Here 127.0.0.1, trusted as
			// nginx's own address is, stands for such a client.
			{"a client at a trusted address rotating X-Forwarded-For", clientFrom("127.0.0.1"), true},
		} {
			// Three replicas counting alone would let 3 × limit through.
			if n, took := sent(c.client, c.forge, 3*limit+3); n < limit || n > atMost(took) {
				t.Errorf("%s got %d callbacks through three replicas in %v, want %d (the limit, for all replicas together)", c.name, n, took, limit)
			}
		}
		// Another client is not held back by the first: counted per client, not per nginx.
		if code, _, _ := get(t, clientFrom("127.0.0.4"), p.url+"/callback?code=c&state=another-client"); code != http.StatusOK {
			t.Errorf("another client after the first hit its limit: %d, want 200", code)
		}
	})

	t.Run("with Redis stopped, each replica counts alone, says so and counts it", func(t *testing.T) {
		p.redis.Stop()
		defer p.redis.Restart(t)
		// Round-robin over three replicas: each lets its own limit through
		// (the callbacks then fail with 503: no store), as SECURITY.md says.
		if n, _ := sent(clientFrom("127.0.0.6"), false, 3*(limit+2)); n != 3*limit {
			t.Errorf("one client got %d callbacks past the limits of three replicas counting alone, want %d", n, 3*limit)
		}
		for _, r := range p.metrics {
			if v := metricValue(t, r, "oauth_callback_rate_limits_local_total"); v == 0 {
				t.Errorf("replica %s does not count the requests it limited alone", r)
			}
		}
	})

	t.Run("a long-poll held for the whole wait gets the service's 404, not a proxy 504", func(t *testing.T) {
		start := time.Now()
		code, header, body := get(t, mcp, p.url+"/api/callback/never-arrives", "Prefer", "wait=60")
		if code != http.StatusNotFound || header.Get("Preference-Applied") != "wait=2" || !strings.Contains(body, `"reason":"not_found"`) {
			t.Fatalf("after %v: %d, Preference-Applied %q, %s", time.Since(start), code, header.Get("Preference-Applied"), body)
		}
		if held := time.Since(start); held < 2*time.Second {
			t.Fatalf("answered after %v: the wait was not held", held)
		}
	})

	t.Run("with one replica stopped, callbacks and takes go on through the other", func(t *testing.T) {
		p.stop[0]()
		for i := range 10 {
			state := fmt.Sprintf("one-replica-left-%d", i)
			if code, _, _ := get(t, clientFrom("127.0.2."+strconv.Itoa(i+1)), p.url+"/callback?code=c&state="+state); code != http.StatusOK {
				t.Fatalf("callback %d with a replica down: %d", i, code)
			}
			if code, _, _ := get(t, mcp, p.url+"/api/callback/"+state); code != http.StatusOK {
				t.Fatalf("take %d with a replica down: %d", i, code)
			}
		}
	})
}

// The shipped proxy gives a long-poll more room than the service's longest
// wait, so that the service answers first: proxy_read_timeout against
// the longest wait compose's replicas grant, plus a margin.
func TestComposeProxyOutwaitsTheLongestLongPoll(t *testing.T) {
	conf, err := os.ReadFile("../deploy/compose/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`proxy_read_timeout (\d+)s;`).FindSubmatch(conf)
	if m == nil {
		t.Fatal("deploy/compose/nginx.conf sets no proxy_read_timeout in seconds")
	}
	readTimeout, _ := strconv.Atoi(string(m[1]))
	// The longest wait compose's replicas grant: the default, unless
	// docker-compose.yml sets one.
	env := map[string]string{}
	compose, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	if set := regexp.MustCompile(`(?m)^\s+OAUTH_CALLBACK_MAX_WAIT: (\S+)$`).FindSubmatch(compose); set != nil {
		env["OAUTH_CALLBACK_MAX_WAIT"] = string(set[1])
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	maxWait := int(cfg.HTTP.LongPoll.MaxWait / time.Second)
	if readTimeout <= maxWait+5 {
		t.Errorf("proxy_read_timeout %ds leaves a %ds long-poll no margin: nginx would answer 504 first", readTimeout, maxWait)
	}
}
