package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	client "github.com/oauth-callback-server/oauth-callback-server/clients/go"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testnet"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testwait"
)

// previousRelease is the last commit of the Redis layout before the data
// plane was rebuilt (one record per sign-in): what a deployment runs when
// it upgrades to this one. Its binary is built from this repository's
// history.
const previousRelease = "ea6ea059eb232607c5f96fea4e49d53135493b0e"

// buildPreviousRelease builds previousRelease's binary, from git's copy of
// the commit (a shallow clone lacks it: fetch it, or clone in full).
func buildPreviousRelease(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	archive := exec.Command("sh", "-c", fmt.Sprintf("git archive %s | tar -x -C %s", previousRelease, dir)) // #nosec G204 -- the test's own constants
	archive.Dir = ".."
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("the previous release (%s) is not in this clone's history (git fetch --unshallow): %v\n%s", previousRelease, err, out)
	}
	bin := filepath.Join(dir, "previous-release")
	build := exec.Command("go", "build", "-o", bin, "./cmd/oauth-callback-server")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the previous release: %v\n%s", err, out)
	}
	return bin
}

// TestUpgradeFromThePreviousRelease: three replicas of the previous
// release behind a round-robin proxy, on one Redis, are replaced one by
// one by this release while sign-ins go on, half of them registered first
// (with metadata) and half not, each taken by an MCP server long-polling
// through the proxy. The two releases keep different layouts on Redis:
// this one reads the previous one's while it lives (redisstore's bridge).
// No sign-in is lost, none is delivered twice.
func TestUpgradeFromThePreviousRelease(t *testing.T) {
	previous, current := buildPreviousRelease(t), buildService(t)
	redis := redistest.Start(t)
	var listeners []*net.TCPListener
	for range 3 {
		listeners = append(listeners, testnet.Listen(t))
	}
	env := []string{
		"OAUTH_CALLBACK_REDIS_URL=" + redis.URL(),
		"OAUTH_CALLBACK_ENCRYPTION_KEY=upgrade-test-key-0123456789abcdef",
		"OAUTH_CALLBACK_DRAIN_DELAY=500ms",
		"OAUTH_CALLBACK_SHUTDOWN_TIMEOUT=5s",
		"OAUTH_CALLBACK_RATE_LIMIT_CALLBACK=0", "OAUTH_CALLBACK_RATE_LIMIT_API=0", "OAUTH_CALLBACK_RATE_LIMIT_REGISTER=0",
	}
	stops := make([]func(), 3)
	var urls []string
	for i, l := range listeners {
		var base string
		base, stops[i] = startReplicaOn(t, previous, l, env...)
		urls = append(urls, base)
	}
	proxy := newRoundRobin(t, urls)

	var (
		flows, failed atomic.Int64
		mu            sync.Mutex
		failures      []string
		delivered     = map[string]int{}
	)
	fail := func(format string, args ...any) {
		failed.Add(1)
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for worker := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _ := client.New(proxy.URL, client.WithPollInterval(100*time.Millisecond), client.WithLongPoll(2*time.Second))
			httpc := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				state := fmt.Sprintf("upgrade-%d-%d-0123456789abcdef", worker, i)
				code := "code-" + state
				registered := i%2 == 0
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				if registered {
					if err := c.Register(ctx, state, time.Minute, map[string]string{"by": state}); err != nil {
						fail("register %s: %v", state, err)
						cancel()
						continue
					}
				}
				got := make(chan error, 1)
				var res *client.Result
				go func() {
					var err error
					res, err = c.Wait(ctx, state)
					got <- err
				}()
				time.Sleep(20 * time.Millisecond)
				resp, err := httpc.Get(proxy.URL + "/callback?code=" + code + "&state=" + state)
				if err != nil {
					fail("callback %s: %v", state, err)
				} else {
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						fail("callback %s: %d", state, resp.StatusCode)
					}
				}
				err = <-got
				cancel()
				if err != nil {
					fail("wait %s: %v", state, err)
					continue
				}
				if res.AuthCode != code {
					fail("wait %s: got code %q", state, res.AuthCode)
				}
				if registered {
					var meta map[string]string
					// A registration made by one release and a callback that
					// reached the other (not the previous release's to read)
					// may lose the metadata, the window's documented limit;
					// anything else must come back.
					if len(res.Metadata) > 0 && (json.Unmarshal(res.Metadata, &meta) != nil || meta["by"] != state) {
						fail("wait %s: metadata %s", state, res.Metadata)
					}
				}
				mu.Lock()
				delivered[res.AuthCode]++
				mu.Unlock()
				flows.Add(1)
			}
		}()
	}

	// Each phase lasts until sign-ins have gone through it: before the
	// first replacement, with both releases side by side after each, and
	// on this release alone.
	signInsMore := func(phase string) {
		from := flows.Load()
		testwait.Until(t, time.Minute, fmt.Sprintf("20 sign-ins %s", phase), func() bool { return flows.Load() >= from+20 })
	}
	signInsMore("on the previous release")
	for i, l := range listeners {
		stops[i]()
		_, stops[i] = startReplicaOn(t, current, l, env...)
		signInsMore(fmt.Sprintf("with %d of 3 replicas replaced", i+1))
	}
	close(stop)
	wg.Wait()

	for c, n := range delivered {
		if n != 1 {
			t.Errorf("%s delivered %d times", c, n)
		}
	}
	if failed.Load() > 0 {
		t.Errorf("%d failed: %v", failed.Load(), failures)
	}
	t.Logf("FIGURE %s: %d sign-ins through a round-robin proxy while 3 replicas of the previous release were replaced by this one: %d failed, 0 delivered twice",
		t.Name(), flows.Load(), failed.Load())
}
