package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
)

// TestReplicasShareOneRedis: three instances of the service on one real
// Redis; 500 callbacks land on one, every state is taken concurrently through
// all three. Each code is delivered exactly once.
func TestReplicasShareOneRedis(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	env := map[string]string{"OAUTH_CALLBACK_REDIS_URL": redis.URL(), "OAUTH_CALLBACK_LOG_LEVEL": "info"}
	replicas := []*instance{startInstance(t, env), startInstance(t, env), startInstance(t, env)}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	// Before the replicas stop: a connection the transport dialled but
	// never used holds http.Server.Shutdown for 5 s (net/http waits that
	// long for its first request).
	t.Cleanup(client.CloseIdleConnections)

	const states = 500
	for i := range states {
		resp, err := client.Get(fmt.Sprintf("%s/callback?code=code-%d&state=state-%d", replicas[0].URL, i, i))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("callback %d: status %d", i, resp.StatusCode)
		}
	}
	if n := activeCallbacks(t, client, replicas[2].URL); n != states {
		t.Fatalf("active_callbacks seen from another replica: got %d, want %d", n, states)
	}

	var (
		mu        sync.Mutex
		delivered = map[string]int{}
		statuses  = map[int]int{}
		wg        sync.WaitGroup
		sem       = make(chan struct{}, 48)
	)
	for i := range states {
		for _, r := range replicas {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				resp, err := client.Get(fmt.Sprintf("%s/api/callback/state-%d", r.URL, i))
				if err != nil {
					t.Error(err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				defer mu.Unlock()
				statuses[resp.StatusCode]++
				if resp.StatusCode == http.StatusOK {
					var m struct {
						AuthCode string `json:"auth_code"`
						State    string `json:"state"`
					}
					if err := json.Unmarshal(body, &m); err != nil {
						t.Error(err)
						return
					}
					if want := fmt.Sprintf("code-%d", i); m.AuthCode != want {
						t.Errorf("state-%d delivered %q, want %q", i, m.AuthCode, want)
					}
					delivered[m.AuthCode]++
				}
			}()
		}
	}
	wg.Wait()

	if statuses[http.StatusOK] != states {
		t.Errorf("200s: got %d, want %d (all statuses %v)", statuses[http.StatusOK], states, statuses)
	}
	for status, n := range statuses {
		if status != http.StatusOK && status != http.StatusGone && status != http.StatusNotFound {
			t.Errorf("unexpected status %d (%d times)", status, n)
		}
	}
	for code, n := range delivered {
		if n != 1 {
			t.Errorf("%s delivered %d times", code, n)
		}
	}
	if len(delivered) != states {
		t.Errorf("distinct codes delivered: %d, want %d", len(delivered), states)
	}
	if n := activeCallbacks(t, client, replicas[1].URL); n != 0 {
		t.Errorf("active_callbacks after every take: %d", n)
	}
	// A second callback for a taken state, on another replica: refused.
	resp, err := client.Get(replicas[1].URL + "/callback?code=replay&state=state-7")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("replayed callback on another replica: %d, want 409", resp.StatusCode)
	}
}

func activeCallbacks(t *testing.T, client *http.Client, base string) int {
	t.Helper()
	resp, err := client.Get(base + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m struct {
		ActiveCallbacks int `json:"active_callbacks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m.ActiveCallbacks
}
