package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testwait"
)

// TestLongPollAcrossReplicas: waiters on replica B are woken by a callback
// that lands on replica A, through Redis pub/sub; one of them gets it.
func TestLongPollAcrossReplicas(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	// The re-check out of reach: only the wake-up through pub/sub can
	// deliver, and the test fails without it.
	env := map[string]string{"OAUTH_CALLBACK_REDIS_URL": redis.URL(), "OAUTH_CALLBACK_LONG_POLL_RECHECK": "10m"}
	a, b := startInstance(t, env), startInstance(t, env)
	client := &http.Client{Timeout: 40 * time.Second}

	t.Run("waiter on B, callback on A", func(t *testing.T) {
		got := make(chan int, 1)
		go func() {
			resp, err := client.Get(b.URL + "/api/callback/cross?wait=30s")
			if err != nil {
				t.Error(err)
				got <- 0
				return
			}
			resp.Body.Close()
			got <- resp.StatusCode
		}()
		waitForWaiters(t, b.URL, 1)
		resp, err := client.Get(a.URL + "/callback?code=c&state=cross")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if status := <-got; status != http.StatusOK {
			t.Fatalf("waiter on B: %d, want 200", status)
		}
	})

	t.Run("ten waiters on two replicas, one winner", func(t *testing.T) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		for i := range 10 {
			target := []*instance{a, b}[i%2].URL
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := client.Get(target + "/api/callback/ten?wait=30s")
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
			}()
		}
		waitForWaiters(t, a.URL, 5)
		waitForWaiters(t, b.URL, 5)
		resp, err := client.Get(a.URL + "/callback?code=c&state=ten")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		wg.Wait()
		if statuses[200] != 1 || statuses[410] != 9 {
			t.Fatalf("statuses %v, want one 200 and nine 410", statuses)
		}
	})

	t.Run("many states at once", func(t *testing.T) {
		const n = 50
		results := make(chan int, n)
		for i := range n {
			go func() {
				resp, err := client.Get(fmt.Sprintf("%s/api/callback/many-%d?wait=30s", b.URL, i))
				if err != nil {
					results <- 0
					return
				}
				resp.Body.Close()
				results <- resp.StatusCode
			}()
		}
		waitForWaiters(t, b.URL, n)
		for i := range n {
			resp, err := client.Get(fmt.Sprintf("%s/callback?code=c%d&state=many-%d", a.URL, i, i))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		for range n {
			if status := <-results; status != http.StatusOK {
				t.Errorf("waiter: %d", status)
			}
		}
	})
}

// waitForWaiters waits until the replica at base holds n long-polls, by
// its oauth_callback_waiters gauge, so that a callback sent next must wake
// them rather than be found by their first look.
func waitForWaiters(t *testing.T, base string, n int) {
	t.Helper()
	testwait.MetricLine(t, 10*time.Second, func() (string, error) {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return string(body), err
	}, fmt.Sprintf("oauth_callback_waiters %d", n))
}

// TestAppsLongPollsAcrossReplicas: two apps share two replicas on one
// Redis. mail's sign-ins never reach a long-poll of files, whichever look
// of that long-poll finds mail's callback: a wake-up from the other
// replica, a re-check, the look every waiter makes when the replica's
// subscription comes back after Redis restarted, or the last look of a
// replica that shuts down while the long-poll waits. mail takes each code
// afterwards.
func TestAppsLongPollsAcrossReplicas(t *testing.T) {
	t.Parallel()
	// Redis keeps its data across the restart below (append-only file,
	// written at every command), as a production Redis does.
	redis := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	const mailToken, filesToken = "mail-token-0123456789", "files-token-0123456789"
	env := map[string]string{
		"OAUTH_CALLBACK_REDIS_URL":         redis.URL(),
		"OAUTH_CALLBACK_API_TOKENS":        "mail=" + mailToken + ",files=" + filesToken,
		"OAUTH_CALLBACK_LONG_POLL_RECHECK": "1s",
		"OAUTH_CALLBACK_STORE_TIMEOUT":     "300ms",
	}
	a, b := startInstance(t, env), startInstance(t, env)
	client := &http.Client{Timeout: 40 * time.Second}
	call := func(method, url, token string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	signIn := func(state string) {
		t.Helper()
		if code, body := call(http.MethodPut, a.URL+"/api/callback/"+state, mailToken); code != http.StatusCreated {
			t.Fatalf("mail registers %s: %d %s", state, code, body)
		}
		resp, err := client.Get(a.URL + "/callback?code=code-of-" + state + "&state=" + state)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("callback of %s: %d", state, resp.StatusCode)
		}
	}
	// filesWaits starts files' long-poll on replica and returns its answer.
	filesWaits := func(replica *instance, state, wait string) <-chan string {
		out := make(chan string, 1)
		go func() {
			code, body := call(http.MethodGet, replica.URL+"/api/callback/"+state+"?wait="+wait, filesToken)
			out <- fmt.Sprintf("%d %s", code, body)
		}()
		return out
	}
	wantNotFound := func(what string, got <-chan string) {
		t.Helper()
		if answer := <-got; !strings.HasPrefix(answer, "404 ") {
			t.Errorf("files' long-poll, %s: %s, want 404", what, answer)
		}
	}
	// Across a Redis restart the look its subscription's return starts
	// may find Redis still loading its data: 503 is an honest answer
	// there too. What may never come is mail's code.
	wantNotFoundOrUnavailable := func(what string, got <-chan string) {
		t.Helper()
		if answer := <-got; !strings.HasPrefix(answer, "404 ") && !strings.HasPrefix(answer, "503 ") {
			t.Errorf("files' long-poll, %s: %s, want 404 or 503", what, answer)
		}
	}

	// A wake-up from a: files waits before mail's callback lands.
	if code, body := call(http.MethodPut, a.URL+"/api/callback/woken", mailToken); code != http.StatusCreated {
		t.Fatalf("mail registers: %d %s", code, body)
	}
	woken := filesWaits(b, "woken", "3s")
	waitForWaitersWith(t, b.URL, filesToken, 1)
	resp, err := client.Get(a.URL + "/callback?code=code-of-woken&state=woken")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wantNotFound("woken by the callback on the other replica", woken)

	// Re-checks: the callback is there before files starts waiting.
	signIn("rechecked")
	wantNotFound("re-checking every second", filesWaits(b, "rechecked", "3s"))

	// Redis restarts while files waits on a replica that never re-checks
	// (a look while Redis is down would end the wait with a 503): its
	// subscription comes back, and every waiter of the replica looks again.
	env["OAUTH_CALLBACK_LONG_POLL_RECHECK"] = "10m"
	c := startInstance(t, env)
	// c's subscription starts with its first long-poll, and wakes every
	// waiter once: this one, so that the next waits for the restart.
	if code, body := call(http.MethodGet, c.URL+"/api/callback/warm-up?wait=1s", filesToken); code != http.StatusNotFound {
		t.Fatalf("warm-up: %d %s", code, body)
	}
	signIn("resubscribed")
	resubscribed := filesWaits(c, "resubscribed", "8s")
	waitForWaitersWith(t, c.URL, filesToken, 1)
	redis.Restart(t)
	wantNotFoundOrUnavailable("across a Redis restart", resubscribed)

	// b shuts down while files waits: its last look.
	signIn("drained")
	drained := filesWaits(b, "drained", "30s")
	waitForWaitersWith(t, b.URL, filesToken, 1)
	b.stop()
	if err := b.wait(t); err != nil {
		t.Fatalf("b stopped with %v", err)
	}
	wantNotFound("when its replica shut down", drained)

	for _, state := range []string{"woken", "rechecked", "resubscribed", "drained"} {
		code, body := call(http.MethodGet, a.URL+"/api/callback/"+state, mailToken)
		if code != http.StatusOK || !strings.Contains(body, `"auth_code":"code-of-`+state+`"`) {
			t.Errorf("mail's take of %s: %d %s", state, code, body)
		}
	}
}

// waitForWaitersWith is waitForWaiters on a replica whose /metrics needs
// a token.
func waitForWaitersWith(t *testing.T, base, token string, n int) {
	t.Helper()
	testwait.MetricLine(t, 10*time.Second, func() (string, error) {
		req, err := http.NewRequest(http.MethodGet, base+"/metrics", nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return string(body), err
	}, fmt.Sprintf("oauth_callback_waiters %d", n))
}
