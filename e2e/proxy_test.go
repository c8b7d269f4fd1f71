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
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/config"
	"github.com/oauth-callback-server/oauth-callback-server/internal/redistest"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testnet"
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
	stop     []func()
}

// startProxied starts redis, two replicas and nginx. env is added to the
// replicas' settings.
func startProxied(t *testing.T, env ...string) *proxied {
	t.Helper()
	nginx := nginxPath(t)
	bin := buildService(t)
	redis := redistest.Start(t)
	p := &proxied{}
	common := append([]string{"OAUTH_CALLBACK_REDIS_URL=" + redis.URL(),
		// As compose sets it, and the loopback address this test's nginx
		// connects from, which stands for the compose network.
		"OAUTH_CALLBACK_TRUSTED_PROXIES=" + composeTrustedProxies(t) + ",127.0.0.1"}, env...)
	for range 2 {
		base, stop := startReplicaOn(t, bin, testnet.Listen(t), common...)
		p.replicas, p.stop = append(p.replicas, base), append(p.stop, stop)
	}

	shipped, err := os.ReadFile("../deploy/compose/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(shipped)
	listen := testnet.ReservePort(t) // nginx must be told its port
	for old, repl := range map[string]string{
		"server oauth-callback-server-a:8000;": "server " + strings.TrimPrefix(p.replicas[0], "http://") + ";",
		"server oauth-callback-server-b:8000;": "server " + strings.TrimPrefix(p.replicas[1], "http://") + ";",
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

func metricValue(t *testing.T, base, series string) float64 {
	t.Helper()
	_, _, body := get(t, http.DefaultClient, base+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

func TestComposeProxy(t *testing.T) {
	p := startProxied(t, "OAUTH_CALLBACK_RATE_LIMIT_CALLBACK=5", "OAUTH_CALLBACK_MAX_WAIT=2s")
	browser, mcp := clientFrom("127.0.0.2"), clientFrom("127.0.0.5")

	t.Run("callbacks and takes spread over both replicas, each exactly once", func(t *testing.T) {
		for i := range 4 { // round-robin: callback on one replica, take on the other
			state := fmt.Sprintf("through-nginx-%d", i)
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
		for _, r := range p.replicas {
			stored := metricValue(t, r, `oauth_callback_callbacks_received_total{outcome="stored"}`)
			took := metricValue(t, r, `oauth_callback_takes_total{code="200"}`)
			if stored == 0 || took == 0 {
				t.Errorf("replica %s stored %v and handed out %v: nginx did not spread the requests", r, stored, took)
			}
		}
	})

	t.Run("rate limits count per client from X-Forwarded-For, and a forged one buys nothing", func(t *testing.T) {
		// 5 a minute per replica: 10 through nginx's two replicas.
		allowed := func(c *http.Client, forge bool) int {
			n := 0
			for i := range 14 {
				var header []string
				if forge {
					header = []string{"X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i)}
				}
				code, _, _ := get(t, c, fmt.Sprintf("%s/callback?code=c&state=limit-%d-%d", p.url, time.Now().UnixNano(), i), header...)
				if code == http.StatusOK {
					n++
				} else if code != http.StatusTooManyRequests {
					t.Fatalf("callback: %d", code)
				}
			}
			return n
		}
		if n := allowed(browser, false); n != 10 {
			t.Errorf("one client got %d callbacks through, want 10 (5 per replica)", n)
		}
		if n := allowed(clientFrom("127.0.0.3"), true); n != 10 {
			t.Errorf("a client forging X-Forwarded-For got %d through, want 10 like anyone", n)
		}
		// Hostile traffic, round 3, item 4: a client whose own address the
		// replicas trust (compose trusted every private range: a client
		// behind Docker's userland proxy, Docker Desktop, rootless Docker,
		// a LAN or a VPN) rotated X-Forwarded-For, nginx appended to it, and
		// the client picked a fresh bucket per request. Here 127.0.0.1,
		// trusted as nginx's own address is, stands for such a client.
		if n := allowed(clientFrom("127.0.0.1"), true); n != 10 {
			t.Errorf("a client at a trusted address rotating X-Forwarded-For got %d through, want 10 like anyone", n)
		}
		// Another client is not held back by the first: counted per client, not per nginx.
		if code, _, _ := get(t, clientFrom("127.0.0.4"), p.url+"/callback?code=c&state=another-client"); code != http.StatusOK {
			t.Errorf("another client after the first hit its limit: %d, want 200", code)
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
