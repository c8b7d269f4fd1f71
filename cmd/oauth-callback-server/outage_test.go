package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testwait"
)

// TestRedisOutageAnswers503AndRecovers: with Redis gone, requests that need
// it get a 503 within the store timeout and the process stays alive; when
// Redis comes back, the service serves again without a restart.
func TestRedisOutageAnswers503AndRecovers(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	inst := startInstance(t, map[string]string{
		"OAUTH_CALLBACK_REDIS_URL":        redis.URL(),
		"OAUTH_CALLBACK_STORE_TIMEOUT":    "300ms",
		"OAUTH_CALLBACK_LOG_LEVEL":        "info",
		"OAUTH_CALLBACK_SHUTDOWN_TIMEOUT": "2s",
	})
	client := &http.Client{Timeout: 5 * time.Second}
	status := func(path string) (int, time.Duration) {
		t.Helper()
		start := time.Now()
		resp, err := client.Get(inst.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}

	redis.Stop()
	for _, path := range []string{"/callback?code=c&state=during-outage", "/api/callback/any", "/health", "/readyz"} {
		code, took := status(path)
		if code != http.StatusServiceUnavailable {
			t.Errorf("%s during outage: %d, want 503", path, code)
		}
		if took > 2*time.Second {
			t.Errorf("%s took %v during outage", path, took)
		}
	}
	if code, _ := status("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz during outage: %d, want 200 (the process is alive)", code)
	}

	redis.Restart(t)
	testwait.Until(t, 5*time.Second, "recovered after Redis came back (a callback stored)", func() bool {
		code, _ := status("/callback?code=c&state=after-outage")
		return code == http.StatusOK
	})
	if code, _ := status("/api/callback/after-outage"); code != http.StatusOK {
		t.Errorf("take after recovery: %d", code)
	}
	if code, _ := status("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after recovery: %d", code)
	}
}
