package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testlog"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testnet"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testwait"
)

// The example MCP server (examples/mcp-server-typescript), for real: two
// replicas of it behind a round-robin proxy, each on its own replica of the
// relay on one Redis; the official SDK's MCP client calls its tool; the
// e2e OIDC provider stands in for Entra ID (discovery, authorization code
// with PKCE, client_secret_basic, userinfo), and Chromium is the person.

const exampleDir = "../examples/mcp-server-typescript"

// The example's MCP users (its MCP_USERS): one per subtest, so that each
// reads only its own lines in the replicas' logs.
var mcpUsers = map[string]string{"alice": "alice-mcp-token-0123456789", "bob": "bob-mcp-token-0123456789"}

// exampleBuilt finds node and the example as make e2e builds it (npm ci,
// npm run build). Without them the test fails in CI and is skipped with a
// message locally.
func exampleBuilt(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(exampleDir, "dist", "server.js"))
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the MCP server example is not built (%v), and CI is set: make e2e builds it (needs node and npm)", err)
		}
		t.Skipf("SKIPPED: the MCP server example is not built (%v): run make e2e, or npm ci && npm run build in %s", err, exampleDir)
	}
	return node
}

// mcpReplica is one process of the example, on a socket the test holds, so
// that it can stop and start again on the same port.
type mcpReplica struct {
	name string
	l    *net.TCPListener
	url  string
	log  testlog.Buffer // its stdout: one JSON line per event
	cmd  *exec.Cmd
	run  func() // starts it again with the same settings
}

func startMCPReplica(t *testing.T, node, name string, env ...string) *mcpReplica {
	t.Helper()
	r := &mcpReplica{name: name, l: testnet.Listen(t)}
	r.url = testnet.URL(r.l)
	r.run = func() {
		t.Helper()
		cmd := exec.Command(node, "dist/server.js")
		cmd.Dir = exampleDir
		cmd.Env = append(os.Environ(), append([]string{"LISTEN_FDS=1", "MCP_REPLICA=" + name}, env...)...)
		cmd.Stdout, cmd.Stderr = &r.log, os.Stderr
		sock := testnet.File(t, r.l)
		cmd.ExtraFiles = []*os.File{sock} // fd 3
		err := cmd.Start()
		_ = sock.Close()
		if err != nil {
			t.Fatal(err)
		}
		r.cmd = cmd
		testnet.WaitReady(t, r.url, 30*time.Second)
	}
	r.run()
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() {
			t.Logf("MCP replica %s:\n%s", name, r.log.String())
		}
	})
	return r
}

// stop ends the process with SIGTERM and waits: it must exit 0.
func (r *mcpReplica) stop(t *testing.T) {
	t.Helper()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	if err := r.cmd.Wait(); err != nil {
		t.Errorf("MCP replica %s did not stop cleanly: %v", r.name, err)
	}
	r.cmd = nil
}

// logged reports whether the replica logged event for user.
func (r *mcpReplica) logged(event, user string) bool {
	for _, line := range strings.Split(r.log.String(), "\n") {
		var ev struct{ Event, User string }
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Event == event && ev.User == user {
			return true
		}
	}
	return false
}

// mcpBalancer is the round-robin load balancer in front of the MCP replicas: each
// request goes to the next replica; one that refuses the connection (it is
// restarting) is passed over for the next, as nginx does. It records which
// replica served each tools/call.
type mcpBalancer struct {
	replicas []*mcpReplica
	next     atomic.Uint64
	direct   http.RoundTripper

	mu     sync.Mutex
	served []servedCall
}

type servedCall struct {
	replica string
	retry   bool // it carried a requestState: a round after the first
	header  http.Header
	body    []byte // the JSON-RPC request
}

func startMCPBalancer(t *testing.T, replicas ...*mcpReplica) (string, *mcpBalancer) {
	t.Helper()
	rr := &mcpBalancer{replicas: replicas, direct: &http.Transport{DisableKeepAlives: true}}
	proxy := &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "replica" },
		Transport:     rr,
		FlushInterval: -1,
	}
	l := testnet.Listen(t)
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return testnet.URL(l) + "/mcp", rr
}

func (rr *mcpBalancer) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	var call struct {
		Method string
		Params struct {
			RequestState string `json:"requestState"`
		}
	}
	_ = json.Unmarshal(body, &call)
	first := rr.next.Add(1) - 1
	for i := range rr.replicas {
		r := rr.replicas[(first+uint64(i))%uint64(len(rr.replicas))]
		out := req.Clone(req.Context())
		out.URL.Host, out.Host = strings.TrimPrefix(r.url, "http://"), strings.TrimPrefix(r.url, "http://")
		out.Body = io.NopCloser(bytes.NewReader(body))
		resp, err := rr.direct.RoundTrip(out)
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			continue // nothing was sent: the next replica may have it
		}
		if err == nil && call.Method == "tools/call" {
			rr.mu.Lock()
			rr.served = append(rr.served, servedCall{r.name, call.Params.RequestState != "", req.Header.Clone(), body})
			rr.mu.Unlock()
		}
		return resp, err
	}
	return nil, errors.New("no MCP replica accepts connections")
}

func (rr *mcpBalancer) calls() []servedCall {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return append([]servedCall(nil), rr.served...)
}

// mcpClient is the example's client (the SDK's Client) calling whoami.
type mcpClient struct {
	out  testlog.Buffer
	done chan error
}

func startMCPClient(t *testing.T, node, url, user string) *mcpClient {
	t.Helper()
	c := &mcpClient{done: make(chan error, 1)}
	cmd := exec.Command(node, "dist/client.js", url)
	cmd.Dir = exampleDir
	cmd.Env = append(os.Environ(), "MCP_TOKEN="+mcpUsers[user])
	cmd.Stdout, cmd.Stderr = &c.out, &c.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("MCP client:\n%s", c.out.String())
		}
	})
	return c
}

// line waits for the client's line starting with prefix and returns the rest.
func (c *mcpClient) line(t *testing.T, prefix string) string {
	t.Helper()
	var found string
	testwait.Until(t, 2*time.Minute, "the MCP client printing "+prefix, func() bool {
		sc := bufio.NewScanner(strings.NewReader(c.out.String()))
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				found = rest
				return true
			}
		}
		return false
	})
	return found
}

// result is the tool's answer, once the client has exited.
func (c *mcpClient) result(t *testing.T) string {
	t.Helper()
	select {
	case err := <-c.done:
		if err != nil {
			t.Fatalf("the MCP client failed: %v\n%s", err, c.out.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("the MCP client did not finish:\n%s", c.out.String())
	}
	return c.line(t, "result: ")
}

func TestMCPServerExample(t *testing.T) {
	node := exampleBuilt(t)
	e := newEnv(t) // the relay: replicas A and B on Redis; the provider
	var users []string
	for user, token := range mcpUsers {
		users = append(users, user+"="+token)
	}
	settings := []string{
		"RELAY_TOKEN=" + signinToken,
		"OAUTH_ISSUER=" + e.provider.issuer,
		"OAUTH_CLIENT_ID=" + e.provider.clientID,
		"OAUTH_CLIENT_SECRET=" + e.provider.clientSecret,
		"OAUTH_REDIRECT_URI=" + e.a + "/callback",
		"MCP_STATE_KEY=e2e-mcp-state-key-0123456789abcdef",
		"MCP_USERS=" + strings.Join(users, ","),
	}
	// Each MCP replica asks its own relay replica: a callback stored
	// through one is taken through the other.
	one := startMCPReplica(t, node, "one", append(settings, "RELAY_URL="+e.a)...)
	two := startMCPReplica(t, node, "two", append(settings, "RELAY_URL="+e.b)...)
	mcpURL, rr := startMCPBalancer(t, one, two)
	const want = "result: Signed in as Test User, test-user@zitadel.ch (subject id1)."

	t.Run("the retry on the other replica; another person, or MCP user, is refused", func(t *testing.T) {
		c := startMCPClient(t, node, mcpURL, "alice")
		link := c.line(t, "open: ")
		if !strings.HasPrefix(link, e.a+"/start/") {
			t.Errorf("the elicitation's URL is %s: want the relay's sign-in link (%s/start/…)", link, e.a)
		}

		person := newBrowser(t, true)
		openLink(t, person, link)

		// Someone the link was forwarded to opens it in a browser of their
		// own and presses what it offers.
		other := newBrowser(t, true)
		other.do(t, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("button")))
		other.do(t, chromedp.Click(chromedp.CSS("button")), chromedp.WaitVisible(chromedp.CSS("main.ok h1, main.fail h1")))
		if h := run(t, other, chromedp.Text(chromedp.CSS("main h1"))); h != "Sign-in link opened in another browser" {
			t.Errorf("a second person opening the first person's link got %q: want it refused", h)
		}

		person.do(t, chromedp.Click(chromedp.CSS("#allow")), chromedp.WaitVisible(chromedp.CSS("main h1")))
		e.checkPage(t, person, "Sign-in complete")
		if got := "result: " + c.result(t); got != want {
			t.Errorf("the tool answered %q, want %q", got, want)
		}

		// Round one on one replica, the retry on the other: nothing but the
		// relay (and the key) carried the sign-in between them.
		calls := rr.calls()
		if len(calls) < 2 || calls[0].retry || !calls[1].retry || calls[0].replica == calls[1].replica {
			t.Fatalf("tools/call rounds served by %+v: want round one on one replica and the retry on the other", calls)
		}

		// Another MCP user presenting alice's requestState (the client holds
		// it, so it may leak) is refused before the tool runs.
		req, _ := http.NewRequest(http.MethodPost, mcpURL, bytes.NewReader(calls[1].body))
		req.Header = calls[1].header
		req.Header.Set("Authorization", "Bearer "+mcpUsers["bob"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(answer), "invalid_request_state") {
			t.Errorf("bob retrying with alice's requestState got %d %s: want it refused (invalid_request_state)", resp.StatusCode, answer)
		}
	})

	t.Run("the replica holding the wait restarts", func(t *testing.T) {
		c := startMCPClient(t, node, mcpURL, "bob")
		person := newBrowser(t, true)
		openLink(t, person, c.line(t, "open: "))

		var waiting *mcpReplica
		testwait.Until(t, time.Minute, "an MCP replica waiting for bob's sign-in", func() bool {
			for _, r := range []*mcpReplica{one, two} {
				if r.logged("waiting", "bob") {
					waiting = r
					return true
				}
			}
			return false
		})
		// A rolling update: the wait in flight answers "retry", the
		// process exits, and starts again on the same port.
		waiting.stop(t)
		if !waiting.logged("released on shutdown", "bob") {
			t.Fatalf("replica %s stopped without releasing bob's wait:\n%s", waiting.name, waiting.log.String())
		}
		waiting.run()

		person.do(t, chromedp.Click(chromedp.CSS("#allow")), chromedp.WaitVisible(chromedp.CSS("main h1")))
		e.checkPage(t, person, "Sign-in complete")
		if got := "result: " + c.result(t); got != want {
			t.Errorf("the tool answered %q, want %q", got, want)
		}
	})
}

// openLink is the person opening the link the MCP client shows, up to the
// provider's login: on the relay's page first, whose button binds the
// sign-in to this browser.
func openLink(t *testing.T, b *browser, link string) {
	t.Helper()
	b.do(t, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("button")))
	if run(t, b, chromedp.Evaluate[bool](`document.querySelector("main.start") !== null`)) {
		b.do(t, chromedp.Click(chromedp.CSS("main.start form button")), chromedp.WaitVisible(chromedp.CSS("#allow")))
	}
}
