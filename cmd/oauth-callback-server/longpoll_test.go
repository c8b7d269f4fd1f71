package main

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/redistest"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testwait"
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
