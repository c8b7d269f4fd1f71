package e2e

// The rolling restart of docs/reliability.md: real processes of the binary
// behind a round-robin proxy, and the Go client as the MCP server. It lives
// here, beside the other tests of the built binary, because the Go client
// is a module of its own (clients/go), which the service's module does not
// depend on.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testnet"
)

// roundRobin is the small load balancer of the rolling-restart test: it
// sends each request to the next ready backend (by /readyz, polled every
// 50 ms) and, when a backend refuses the connection (nothing was sent), to
// the next one. Like a Kubernetes Service with readiness probes.
type roundRobin struct {
	backends []*url.URL
	ready    []atomic.Bool
	next     atomic.Uint64
}

func newRoundRobin(t *testing.T, urls []string) *httptest.Server {
	rr := &roundRobin{ready: make([]atomic.Bool, len(urls))}
	for _, u := range urls {
		parsed, _ := url.Parse(u)
		rr.backends = append(rr.backends, parsed)
	}
	ctx, cancel := context.WithCancel(context.Background())
	probe := &http.Client{Timeout: 200 * time.Millisecond}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			for i, b := range rr.backends {
				resp, err := probe.Get(b.String() + "/readyz")
				ok := err == nil && resp.StatusCode == http.StatusOK
				if err == nil {
					resp.Body.Close()
				}
				rr.ready[i].Store(ok)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	transport := &http.Transport{DisableKeepAlives: true} // no stale connection to a stopped backend
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 2 * len(rr.backends) {
			i := int(rr.next.Add(1) % uint64(len(rr.backends)))
			if !rr.ready[i].Load() {
				continue
			}
			refused := false
			proxy := &httputil.ReverseProxy{
				Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(rr.backends[i]) },
				Transport: transport,
				ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
					if errors.Is(err, syscall.ECONNREFUSED) {
						refused = true
						return
					}
					http.Error(w, err.Error(), http.StatusBadGateway)
				},
			}
			proxy.ServeHTTP(w, r)
			if !refused {
				return
			}
		}
		http.Error(w, "no backend ready", http.StatusServiceUnavailable)
	}))
	t.Cleanup(func() { cancel(); <-done; srv.Close(); transport.CloseIdleConnections() })
	// Wait until every backend is seen ready.
	deadline := time.Now().Add(10 * time.Second)
	for i := range rr.ready {
		for !rr.ready[i].Load() {
			if time.Now().After(deadline) {
				t.Fatal("backends never ready behind the proxy")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return srv
}

// TestFaultRollingRestart: three instances behind a round-robin proxy, each
// restarted in turn (SIGTERM, drain, start) while sign-ins go on, with the
// MCP server long-polling: no failed request, no code lost or delivered
// twice.
func TestFaultRollingRestart(t *testing.T) {
	bin := buildService(t)
	redis := redistest.Start(t)
	// Each instance comes back on its own port, which the test holds
	// throughout: released in between, another test could take it.
	var listeners []*net.TCPListener
	for range 3 {
		listeners = append(listeners, testnet.Listen(t))
	}
	env := []string{
		"OAUTH_CALLBACK_REDIS_URL=" + redis.URL(),
		"OAUTH_CALLBACK_DRAIN_DELAY=500ms", // the proxy sees /readyz 503 within 50 ms
		"OAUTH_CALLBACK_SHUTDOWN_TIMEOUT=5s",
		// Every sign-in comes from the proxy's one address.
		"OAUTH_CALLBACK_RATE_LIMIT_CALLBACK=0", "OAUTH_CALLBACK_RATE_LIMIT_API=0",
	}
	stops := make([]func(), 3)
	var urls []string
	for i, l := range listeners {
		var base string
		base, stops[i] = startReplicaOn(t, bin, l, env...)
		urls = append(urls, base)
	}
	proxy := newRoundRobin(t, urls)

	load := startSignIns(proxy.URL, signInOptions{prefix: "rolling", longPoll: 10 * time.Second})
	load.throughPhase(t, 20, "before the first restart")
	start := time.Now()
	for i, l := range listeners {
		// SIGTERM: not ready, drain, answer waiters, shut down; then the
		// port refuses, as a stopped server's does, until the new process
		// listens on it again.
		stops[i]()
		_, stops[i] = startReplicaOn(t, bin, l, env...)
		load.throughPhase(t, 20, fmt.Sprintf("after instance %d restarted", i))
	}
	restarts := time.Since(start)
	load.stopAndCheck(t)
	if load.flows.Load() < 50 {
		t.Errorf("only %d sign-ins completed: the load was too light to mean anything", load.flows.Load())
	}
	t.Logf("FIGURE %s: %d sign-ins (callback + long-poll take) through a round-robin proxy while 3 instances were restarted in turn over %v: %d failed, 0 delivered twice",
		t.Name(), load.flows.Load(), restarts.Round(time.Millisecond), load.failed.Load())
}
