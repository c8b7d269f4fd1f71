package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/config"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testlog"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testnet"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testwait"
)

// instance is one running copy of the service, started through run().
type instance struct {
	URL        string
	MetricsURL string // with OAUTH_CALLBACK_METRICS_ADDR: the metrics listener's
	stop       context.CancelFunc
	done       chan struct{} // closed when run returns
	err        error         // what run returned; read after done
}

// wait returns run's result once it returns, or fails the test.
func (inst *instance) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-inst.done:
		return inst.err
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after cancel")
		return nil
	}
}

// startInstance runs the service with env on port 0, as run does, waits
// for /readyz, and stops it when the test ends. The service says where it
// listens; nothing reads its log for that.
func startInstance(t *testing.T, env map[string]string) *instance {
	t.Helper()
	return startInstanceOn(t, env, nil)
}

// startInstanceOn is startInstance serving on ln (testnet.Dup of a
// listener the test holds, to restart on the same port) when ln is not nil.
func startInstanceOn(t *testing.T, env map[string]string, ln net.Listener) *instance {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: starts the service")
	}
	vars := map[string]string{
		"OAUTH_CALLBACK_HOST":        "127.0.0.1",
		"OAUTH_CALLBACK_PORT":        "0",
		"OAUTH_CALLBACK_DRAIN_DELAY": "0",
		// These tests send hundreds of requests from one address; the
		// limits have tests of their own.
		"OAUTH_CALLBACK_RATE_LIMIT_CALLBACK": "0",
		"OAUTH_CALLBACK_RATE_LIMIT_API":      "0",
	}
	for k, v := range env {
		vars[k] = v
	}
	getenv := func(k string) string { return vars[k] }
	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatalf("configuration: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := open(ctx, cfg, getenv, io.Discard, ln)
	if err != nil {
		cancel()
		t.Fatalf("open: %v", err)
	}
	inst := &instance{URL: svc.URL(), stop: cancel, done: make(chan struct{})}
	if svc.metricsLn != nil {
		inst.MetricsURL = "http://" + svc.metricsLn.Addr().String()
	}
	go func() {
		inst.err = svc.serve(ctx)
		close(inst.done)
	}()
	t.Cleanup(func() {
		inst.stop()
		_ = inst.wait(t)
	})
	testnet.WaitReady(t, inst.URL, 10*time.Second)
	return inst
}

func TestRunStartsServesAndStopsCleanly(t *testing.T) {
	t.Parallel()
	inst := startInstance(t, nil)
	resp, err := http.Get(inst.URL + "/callback?code=c&state=s")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("callback: %d", resp.StatusCode)
	}
	inst.stop()
	if err := inst.wait(t); err != nil {
		t.Fatalf("run returned %v after cancel, want nil", err)
	}
	if _, err := http.Get(inst.URL + "/healthz"); err == nil {
		t.Fatal("still serving after run returned")
	}
}

func TestRunDrainsBeforeShutdown(t *testing.T) {
	t.Parallel()
	inst := startInstance(t, map[string]string{"OAUTH_CALLBACK_DRAIN_DELAY": "1s"})
	inst.stop()
	// During the drain delay the replica says it is not ready but still
	// answers requests, so a load balancer can move traffic away first.
	time.Sleep(200 * time.Millisecond)
	resp, err := http.Get(inst.URL + "/readyz")
	if err != nil {
		t.Fatalf("readyz during drain: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz during drain: %d, want 503", resp.StatusCode)
	}
	resp, err = http.Get(inst.URL + "/callback?code=c&state=during-drain")
	if err != nil {
		t.Fatalf("callback during drain: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("callback during drain: %d", resp.StatusCode)
	}
	if err := inst.wait(t); err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestRunRejectsBadConfiguration(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"oauth-callback-server"}, []string{"OAUTH_CALLBACK_PORT=eighty"}, io.Discard, io.Discard)
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("got %v, want a *config.Error (exit code 2)", err)
	}
	if !strings.Contains(err.Error(), "OAUTH_CALLBACK_PORT") || strings.Contains(err.Error(), "\n") {
		t.Errorf("message: %q", err)
	}
}

func TestRunHelpListsVariables(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"oauth-callback-server", "-h"}, nil, &out, io.Discard); err != nil {
		t.Fatalf("-h: %v", err)
	}
	if !strings.Contains(out.String(), "OAUTH_CALLBACK_REDIS_URL") {
		t.Errorf("-h output lacks the variables:\n%s", out.String())
	}
	err := run(context.Background(), []string{"oauth-callback-server", "-nope"}, nil, io.Discard, io.Discard)
	if !errors.Is(err, errUsage) {
		t.Errorf("unknown flag: got %v, want errUsage", err)
	}
}

// First time right, round 2, item 12: "port in use" at start-up names the
// holder as check does (bindError, one place), and says when it is
// another oauth-callback-server already running there.
func TestRunFailsWhenPortIsTaken(t *testing.T) {
	t.Parallel()
	pid := "pid " + strconv.Itoa(os.Getpid()) // the holders are this test process
	inst := startInstance(t, nil)
	port := inst.URL[strings.LastIndex(inst.URL, ":")+1:]
	vars := map[string]string{"OAUTH_CALLBACK_HOST": "127.0.0.1", "OAUTH_CALLBACK_PORT": port, "OAUTH_CALLBACK_DRAIN_DELAY": "0"}
	err := run(context.Background(), []string{"x"}, environOf(vars), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "listen") || !errors.Is(err, syscall.EADDRINUSE) ||
		!strings.Contains(err.Error(), "it is held by an oauth-callback-server, "+pid) || !strings.Contains(err.Error(), "running already: stop it, or set OAUTH_CALLBACK_HOST/PORT") {
		t.Fatalf("got %v, want a listen error naming the oauth-callback-server holding the port", err)
	}

	other := testnet.Listen(t) // not this service: it answers nothing
	vars["OAUTH_CALLBACK_PORT"] = strconv.Itoa(other.Addr().(*net.TCPAddr).Port)
	err = run(context.Background(), []string{"x"}, environOf(vars), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "it is held by "+pid+" (") || strings.Contains(err.Error(), "oauth-callback-server,") ||
		!strings.Contains(err.Error(), "stop that process, or set OAUTH_CALLBACK_HOST/PORT to another address") {
		t.Fatalf("got %v, want a listen error naming the process holding the port", err)
	}
}

// When the metrics listener cannot be bound, start-up fails and lets go of
// what it had opened: the main listener is closed at once. The test hands
// the service its main listener, so that it can see it closed without
// binding the port again (which another test could have taken meanwhile).
func TestRunReleasesEverythingWhenTheMetricsPortIsTaken(t *testing.T) {
	t.Parallel()
	taken := testnet.Listen(t) // held: the metrics address is in use
	main := testnet.Listen(t)
	handed := testnet.Dup(t, main)
	env := map[string]string{"OAUTH_CALLBACK_METRICS_ADDR": taken.Addr().String()}
	getenv := func(k string) string { return env[k] }
	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := open(context.Background(), cfg, getenv, io.Discard, handed)
	if err == nil {
		svc.closeAll()
		t.Fatal("open succeeded with the metrics address taken")
	}
	if !strings.Contains(err.Error(), "listen for metrics") {
		t.Fatalf("got %v, want a metrics listen error", err)
	}
	// An open listener would wait for a connection: with the deadline past,
	// it answers a timeout instead of net.ErrClosed.
	_ = handed.(*net.TCPListener).SetDeadline(time.Now())
	if _, err := handed.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("the main listener is still open after the failed start (Accept: %v)", err)
	}
}

// TestMetricsListenerServesTheSeriesByApp: the series by app, which
// /metrics on the main listener leaves out (any app's token opens it), are
// on the operator's metrics listener, where the chart scrapes; the main
// listener then serves no /metrics at all.
func TestMetricsListenerServesTheSeriesByApp(t *testing.T) {
	t.Parallel()
	const mail, files = "mail-token-0123456789", "files-token-0123456789"
	inst := startInstance(t, map[string]string{
		"OAUTH_CALLBACK_METRICS_ADDR": "127.0.0.1:0",
		"OAUTH_CALLBACK_API_TOKENS":   "mail=" + mail + ",files=" + files,
	})
	getWith := func(url, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := getWith(inst.URL+"/api/callback/by-app", files); code != http.StatusNotFound {
		t.Fatalf("take: %d", code)
	}
	if code, _ := getWith(inst.URL+"/metrics", mail); code != http.StatusNotFound {
		t.Errorf("/metrics on the main listener beside a metrics listener: %d, want 404", code)
	}
	_, body, err := get(http.DefaultClient, inst.MetricsURL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if want := `oauth_callback_api_requests_total{app="files",code="404",route="/api/callback/{state}"} 1`; !strings.Contains(body, want) {
		t.Errorf("the metrics listener lacks %s", want)
	}
}

// TestIdleConnectionsDoNotBlock: the original service served one connection
// at a time, so one idle client stopped everyone. Here, connections that
// send nothing (or half a request) neither block others nor live forever.
func TestIdleConnectionsDoNotBlock(t *testing.T) {
	t.Parallel()
	inst := startInstance(t, map[string]string{"OAUTH_CALLBACK_READ_HEADER_TIMEOUT": "500ms"})
	host := strings.TrimPrefix(inst.URL, "http://")
	var conns []net.Conn
	for i := range 20 {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if i%2 == 0 {
			_, _ = c.Write([]byte("GET /health HTTP/1.1\r\nHost: x\r\n")) // never finishes its headers
		}
	}
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(inst.URL + "/health")
	if err != nil {
		t.Fatalf("/health with idle connections open: %v", err)
	}
	resp.Body.Close()

	// The read-header timeout closes the idle connections.
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 512)
		for {
			if _, err := c.Read(buf); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Errorf("connection still open 5s after a 500ms read-header timeout")
				}
				break
			}
		}
		c.Close()
	}
}

func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	inst := startInstance(t, nil)
	port := inst.URL[strings.LastIndex(inst.URL, ":")+1:]
	env := func() []string { return []string{"OAUTH_CALLBACK_PORT=" + port, "OAUTH_CALLBACK_HOST=0.0.0.0"} }
	if err := run(context.Background(), []string{"x", "healthcheck"}, env(), io.Discard, io.Discard); err != nil {
		t.Fatalf("healthcheck against a live instance: %v", err)
	}
	// A port the test holds and nobody serves: the instance's own port,
	// once it stopped, could be taken by another test's server.
	silent := testnet.Listen(t)
	port = strconv.Itoa(silent.Addr().(*net.TCPAddr).Port)
	closed := make(chan struct{})
	go func() { // accept and hang up, as a process that is not the service
		for {
			c, err := silent.Accept()
			if err != nil {
				close(closed)
				return
			}
			_ = c.Close()
		}
	}()
	if err := run(context.Background(), []string{"x", "healthcheck"}, env(), io.Discard, io.Discard); err == nil {
		t.Fatal("healthcheck passed with no service answering")
	}
	_ = silent.Close()
	<-closed
}

func TestVersionCommand(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"x", "version"}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "oauth-callback-server dev (commit ") || !strings.Contains(out.String(), "go1.") {
		t.Errorf("version output: %q", out.String())
	}
	if err := run(context.Background(), []string{"x", "frobnicate"}, nil, io.Discard, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("unknown command: got %v, want errUsage", err)
	}
	// First time right, round 2, item 12: --version was an unknown flag.
	for _, flag := range []string{"--version", "-version"} {
		var flagOut bytes.Buffer
		if err := run(context.Background(), []string{"x", flag}, nil, &flagOut, io.Discard); err != nil {
			t.Errorf("%s: %v", flag, err)
		}
		if flagOut.String() != out.String() {
			t.Errorf("%s printed %q, the version command %q", flag, flagOut.String(), out.String())
		}
	}
	if err := run(context.Background(), []string{"x", "--version", "check"}, nil, io.Discard, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("--version with a command: got %v, want errUsage", err)
	}
}

func TestRunRejectsATemplatesDirWithoutTemplates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	err := run(context.Background(), []string{"x"}, []string{"OAUTH_CALLBACK_TEMPLATES_DIR=" + dir, "OAUTH_CALLBACK_PORT=0"}, io.Discard, io.Discard)
	var cerr *config.Error
	if !errors.As(err, &cerr) || cerr.Var != "OAUTH_CALLBACK_TEMPLATES_DIR" {
		t.Fatalf("got %v, want a configuration error (exit 2) naming OAUTH_CALLBACK_TEMPLATES_DIR", err)
	}
}

// get fetches url and returns the status and body.
func get(client *http.Client, url string) (int, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), nil
}

// Tracing reads run's getenv, like every other setting: a developer's own
// OTEL_EXPORTER_OTLP_ENDPOINT in the test process's environment must not
// turn it on (it did: tracing read os.Getenv).
func TestTracingReadsRunsGetenv(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
	for _, want := range []bool{false, true} {
		name := map[bool]string{false: "not in getenv", true: "in getenv"}[want]
		vars := map[string]string{"OAUTH_CALLBACK_HOST": "127.0.0.1", "OAUTH_CALLBACK_PORT": "0"}
		if want {
			vars["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9"
		}
		getenv := func(k string) string { return vars[k] }
		cfg, err := config.Load(getenv)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		svc, err := open(context.Background(), cfg, getenv, &out, nil)
		if err != nil {
			t.Fatal(err)
		}
		svc.closeAll()
		if got := strings.Contains(out.String(), "tracing on"); got != want {
			t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT %s: tracing on %v, want %v", name, got, want)
		}
	}
}

// environOf is env as run takes it, NAME=value entries.
func environOf(env map[string]string) []string {
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// First time right, section 4: an unknown variable was silently ignored.
// One that is no slip for a known name (those stop start-up:
// TestAMisspeltVariableIsAConfigurationError) is warned about, naming the
// closest when there is one.
func TestUnknownVariablesAreWarnedAbout(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	out := &testlog.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"x"}, []string{"OAUTH_CALLBACK_HOST=127.0.0.1", "OAUTH_CALLBACK_PORT=0",
			"OAUTH_CALLBACK_LOG_FORMAT=json", "OAUTH_CALLBACK_DRAIN_DELAY=0", "OAUTH_CALLBACK_METRICS_PORT=9090", "OAUTH_CALLBACK_SOMETHING_ELSE=1"}, out, io.Discard)
	}()
	// run logs "listening" after the warning.
	testwait.Until(t, 10*time.Second, "run logged listening", func() bool { return strings.Contains(out.String(), `"msg":"listening"`) })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.Contains(out.String(), `"variable":"OAUTH_CALLBACK_METRICS_PORT","did_you_mean":"OAUTH_CALLBACK_METRICS_ADDR"`) ||
		!strings.Contains(out.String(), `"msg":"unknown variable OAUTH_CALLBACK_SOMETHING_ELSE, ignored (oauth-callback-server -h lists the variables)"`) {
		t.Errorf("no warning naming each unknown variable (and the closest known one):\n%s", out.String())
	}
}
