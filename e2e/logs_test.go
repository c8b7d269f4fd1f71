package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testlog"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testnet"
)

// TestOnlyJSONLogsDuringARedisOutage: with OAUTH_CALLBACK_LOG_FORMAT=json,
// every line the binary writes, on stdout and stderr, is JSON, go-redis's
// own complaints about the outage included.
func TestOnlyJSONLogsDuringARedisOutage(t *testing.T) {
	bin := buildService(t)
	redis := redistest.Start(t)
	l := testnet.Listen(t)
	var stdout, stderr testlog.Buffer
	cmd := exec.Command(bin)
	sock := testnet.File(t, l)
	defer sock.Close()
	cmd.ExtraFiles = []*os.File{sock}
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "OAUTH_CALLBACK_DRAIN_DELAY=0", "OAUTH_CALLBACK_LOG_FORMAT=json", "OAUTH_CALLBACK_REDIS_URL="+redis.URL(),
		"OAUTH_CALLBACK_STORE_TIMEOUT=200ms")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	base := testnet.URL(l)
	testnet.WaitReady(t, base, 30*time.Second)

	redis.Stop()
	for i := range 20 {
		for _, path := range []string{"/callback?code=c&state=outage-" + strconv.Itoa(i), "/api/callback/outage", "/readyz"} {
			resp, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("%s during the outage: %d, want 503", path, resp.StatusCode)
			}
		}
	}
	redis.Restart(t)
	testnet.WaitReady(t, base, 30*time.Second)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()

	clientLines := 0
	for name, out := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String()} {
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Errorf("%s: not a JSON line: %q", name, line)
				continue
			}
			if rec["msg"] == "redis client" {
				clientLines++
			}
		}
	}
	if clientLines == 0 {
		t.Error("no line from go-redis during the outage: the test shows nothing")
	}
	t.Logf("go-redis lines during the outage, as JSON: %d", clientLines)
}
