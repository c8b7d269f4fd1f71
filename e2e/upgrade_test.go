package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testnet"
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

	load := startSignIns(proxy.URL, signInOptions{prefix: "upgrade", longPoll: 2 * time.Second, register: func(i int) bool { return i%2 == 0 }})
	// Each phase lasts until sign-ins have gone through it: before the
	// first replacement, with both releases side by side after each, and
	// on this release alone.
	load.throughPhase(t, 20, "on the previous release")
	for i, l := range listeners {
		stops[i]()
		_, stops[i] = startReplicaOn(t, current, l, env...)
		load.throughPhase(t, 20, fmt.Sprintf("with %d of 3 replicas replaced", i+1))
	}
	load.stopAndCheck(t)
	t.Logf("FIGURE %s: %d sign-ins through a round-robin proxy while 3 replicas of the previous release were replaced by this one: %d failed, 0 delivered twice",
		t.Name(), load.flows.Load(), load.failed.Load())
}
