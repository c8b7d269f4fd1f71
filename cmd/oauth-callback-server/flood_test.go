package main

import (
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
)

// floodBudget is the byte budget of the flood test: small, so that the
// flood (300 callbacks of ~16 KiB, 4.7 MiB) is several times the budget.
const floodBudget = 2 << 20

// TestFloodStaysInsideTheByteBudget is the memory-exhaustion attack: one
// client, limits off, 300 callbacks of the largest size the service
// accepts, each full of '<' (which JSON escaping used to grow six-fold).
// What the store holds grows by no more than the budget, every refused
// callback is a 503, never a 5xx of another kind, and a sign-in the MCP
// server registered still completes during the flood.
func TestFloodStaysInsideTheByteBudget(t *testing.T) {
	// Not parallel: it measures the process's live heap. Go runs it before
	// the parallel tests start.
	t.Run("memory", func(t *testing.T) {
		inst := startInstance(t, map[string]string{"OAUTH_CALLBACK_MAX_MEMORY": strconv.Itoa(floodBudget)})
		before := liveHeap()
		rssBefore := rss(t)
		flood(t, inst.URL)
		grown := liveHeap() - before
		t.Logf("memory store: live heap +%d KiB, RSS %d -> %d KiB, budget %d KiB", grown>>10, rssBefore>>10, rss(t)>>10, floodBudget>>10)
		// The budget counts encoded bytes and a fixed overhead per entry;
		// the heap has a little more per entry than that (map buckets).
		if grown > floodBudget*5/4 {
			t.Errorf("live heap grew by %d KiB, budget %d KiB", grown>>10, floodBudget>>10)
		}
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		inst := startInstance(t, map[string]string{
			"OAUTH_CALLBACK_REDIS_URL":        srv.URL(),
			"OAUTH_CALLBACK_MAX_MEMORY":       strconv.Itoa(floodBudget),
			"OAUTH_CALLBACK_REDIS_KEY_PREFIX": "flood:",
		})
		before := usedMemory(t, srv)
		flood(t, inst.URL)
		grown := usedMemory(t, srv) - before
		t.Logf("redis store: used_memory +%d KiB, budget %d KiB", grown>>10, floodBudget>>10)
		// Keys, the accounting entries and the allocator's rounding (jemalloc
		// keeps a 16.2 KiB value in a 20 KiB slot) come on top of the
		// counted bytes: see the sizing rule in docs/deployment.md.
		if grown > floodBudget*3/2 {
			t.Errorf("Redis used_memory grew by %d KiB, budget %d KiB", grown>>10, floodBudget>>10)
		}
	})
}

func flood(t *testing.T, base string) {
	t.Helper()
	client := &http.Client{}
	req, _ := http.NewRequest(http.MethodPut, base+"/api/callback/registered-sign-in", nil)
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %v %v", resp, err)
	}
	resp.Body.Close()

	statuses := map[int]int{}
	for i := range 300 {
		form := url.Values{"state": {"junk-" + strconv.Itoa(i)}, "code": {strings.Repeat("<", 5<<10)}}
		form.Set("a", strings.Repeat("<", 5<<10))
		form.Set("b", strings.Repeat("<", 5<<10+900))
		resp, err := client.PostForm(base+"/callback", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		statuses[resp.StatusCode]++
		if i == 150 {
			// The person's sign-in, in the middle of the flood.
			if code, body, err := get(client, base+"/callback?state=registered-sign-in&code=the-real-code"); err != nil || code != http.StatusOK {
				t.Fatalf("registered callback during the flood: %d %v %.300s", code, err, body)
			}
		}
	}
	t.Logf("flood answers: %v", statuses)
	if statuses[http.StatusOK]+statuses[http.StatusServiceUnavailable] != 300 || statuses[http.StatusServiceUnavailable] == 0 {
		t.Errorf("flood answers: %v; want only 200 and 503, and some 503", statuses)
	}
	code, body, err := get(client, base+"/api/callback/registered-sign-in")
	if err != nil || code != http.StatusOK || !strings.Contains(body, `"auth_code":"the-real-code"`) {
		t.Fatalf("take of the registered sign-in: %d %v %s", code, err, body)
	}
}

func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

func rss(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func usedMemory(t *testing.T, srv *redistest.Server) int64 {
	t.Helper()
	for _, line := range strings.Split(srv.Cmd(t, "INFO", "memory"), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("INFO memory has no used_memory")
	return 0
}
