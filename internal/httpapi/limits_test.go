package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/memstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/redisstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/httpapi"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
)

// sharedLimitStore is a memory store that is also a SharedLimiter whose
// answers the test chooses, standing for Redis and its redis_rate count.
type sharedLimitStore struct {
	callback.Store
	mu      sync.Mutex
	allowed bool
	retry   time.Duration
	err     error
	asked   []string
}

func (s *sharedLimitStore) Allow(_ context.Context, key string, perMinute int) (bool, time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, fmt.Sprintf("%s/%d", key, perMinute))
	return s.allowed, s.retry, s.err
}

func (s *sharedLimitStore) set(allowed bool, retry time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.allowed, s.retry, s.err = allowed, retry, err
}

func (s *sharedLimitStore) questions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.asked...)
}

// sharedFixture serves /callback with a limit of perMinute on a store
// whose shared count the test decides.
func sharedFixture(t *testing.T, perMinute int) (*fixture, *sharedLimitStore, func(i int) *httptest.ResponseRecorder) {
	store := &sharedLimitStore{Store: memstore.New(callback.StoreConfig{}, memstore.Config{}), allowed: true}
	t.Cleanup(func() { store.Close() })
	f := newFixtureWithStore(t, store, func(o *httpapi.Options) {
		o.RateLimits = httpapi.RateLimits{Callback: perMinute, Shared: true}
		o.StateHasher = callback.NewStateHasher([]byte("server secret for the limit keys"))
	})
	send := func(i int) *httptest.ResponseRecorder {
		return f.get(t, fmt.Sprintf("/callback?code=c&state=shared-limit-%d", i))
	}
	return f, store, send
}

// TestSharedLimitsDecide: on a store that counts limits for every
// replica, its answer decides (429 with its Retry-After), past the
// replica's own count; the key names the limit but not the client
// address; and past twice the limit seen by this replica alone, which the
// shared count could not admit either, the replica refuses without asking.
func TestSharedLimitsDecide(t *testing.T) {
	_, store, send := sharedFixture(t, 3)
	for i := range 5 { // the shared count allows: past the replica's 3
		rec := send(i)
		if rec.Code != http.StatusOK {
			t.Fatalf("callback %d allowed by the shared count: %d", i, rec.Code)
		}
		if got := rec.Header().Get("X-RateLimit-Limit"); got != "3" {
			t.Errorf("callback %d: X-RateLimit-Limit %q, want the client's limit, 3", i, got)
		}
	}
	asked := store.questions()
	if len(asked) != 5 || !strings.HasPrefix(asked[0], "callback:") || !strings.HasSuffix(asked[0], "/3") {
		t.Fatalf("the shared limiter was asked %v", asked)
	}
	if strings.Contains(asked[0], "192.0.2.1") {
		t.Errorf("the shared key names the client address: %s", asked[0])
	}
	store.set(false, 2500*time.Millisecond, nil)
	if rec := send(10); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "3" {
		t.Fatalf("refused by the shared count: %d, Retry-After %q, want 429 and 3", rec.Code, rec.Header().Get("Retry-After"))
	}
	// Six asked (twice the limit): a flood from here on costs Redis nothing.
	for i := range 20 {
		if rec := send(20 + i); rec.Code != http.StatusTooManyRequests {
			t.Fatalf("request %d past twice the limit: %d, want 429", 20+i, rec.Code)
		}
	}
	if n := len(store.questions()); n != 6 {
		t.Errorf("the shared limiter was asked %d times, want 6: past twice the limit the replica refuses alone", n)
	}
}

// TestSharedLimitsHoldThroughAKeyRotation: two replicas side by side in a
// step of an encryption key rotation (SECURITY.md's three steps, and the
// shortcut that skips step 1) count one client together on Redis: between
// them they admit its limit, not twice it. The count was named with each
// replica's first key alone, and split in two wherever the first keys
// differ.
func TestSharedLimitsHoldThroughAKeyRotation(t *testing.T) {
	srv := redistest.Start(t)
	oldKey := []byte("the old encryption key, 32+ characters long")
	newKey := []byte("the new encryption key, 32+ characters long")
	for i, step := range []struct {
		name string
		a, b [][]byte // the two replicas' OAUTH_CALLBACK_ENCRYPTION_KEY
	}{
		{"step 1", [][]byte{oldKey}, [][]byte{oldKey, newKey}},
		{"step 2", [][]byte{oldKey, newKey}, [][]byte{newKey, oldKey}},
		{"step 3", [][]byte{newKey, oldKey}, [][]byte{newKey}},
		{"step 1 skipped", [][]byte{oldKey}, [][]byte{newKey, oldKey}},
	} {
		t.Run(step.name, func(t *testing.T) {
			const perMinute = 10
			replica := func(keys [][]byte) *fixture {
				client, err := redisstore.NewClient(redisstore.Config{URL: srv.URL(), Timeout: time.Second})
				if err != nil {
					t.Fatal(err)
				}
				// A prefix per step: each starts with a budget untouched.
				store := redisstore.New(client, callback.StoreConfig{}, redisstore.Options{Prefix: fmt.Sprintf("rotation-%d:", i)})
				t.Cleanup(func() { _ = store.Close() })
				return newFixtureWithStore(t, store, func(o *httpapi.Options) {
					o.RateLimits = httpapi.RateLimits{Callback: perMinute, Shared: true}
					o.StateHasher = callback.NewStateHasher(keys[0]) // as cmd sets them
					o.BindingSecrets = keys
				})
			}
			replicas := []*fixture{replica(step.a), replica(step.b)}
			start := time.Now()
			admitted := 0
			for n := range 4 * perMinute { // one client, every other request on each replica
				switch code := replicas[n%2].get(t, fmt.Sprintf("/callback?code=c&state=rotation-%d", n)).Code; code {
				case http.StatusOK:
					admitted++
				case http.StatusTooManyRequests:
				default:
					t.Fatalf("callback %d: %d", n, code)
				}
			}
			// GCRA: the burst, plus one per minute/perMinute that passed.
			if most := perMinute + int(time.Since(start)/(time.Minute/perMinute)); admitted > most {
				t.Errorf("the two replicas admitted %d of one client's callbacks, want its limit of %d (at most %d) between them", admitted, perMinute, most)
			}
		})
	}
}

// TestSharedLimitsAskOncePerKey: one encryption key costs one question to
// the shared count per request, as before rotations were counted; two
// cost two, under two names, the first key's name first (the name one key
// alone gives, so an upgrade keeps the counts); a refusal stops there.
func TestSharedLimitsAskOncePerKey(t *testing.T) {
	k1, k2 := []byte("key one, 32+ characters long, for the limits"), []byte("key two, 32+ characters long, for the limits")
	asked := func(keys [][]byte, allowed bool) []string {
		store := &sharedLimitStore{Store: memstore.New(callback.StoreConfig{}, memstore.Config{}), allowed: allowed}
		t.Cleanup(func() { store.Close() })
		f := newFixtureWithStore(t, store, func(o *httpapi.Options) {
			o.RateLimits = httpapi.RateLimits{Callback: 5, Shared: true}
			o.StateHasher = callback.NewStateHasher(keys[0])
			o.BindingSecrets = keys
		})
		f.get(t, "/callback?code=c&state=ask-once")
		return store.questions()
	}
	one := asked([][]byte{k1}, true)
	if len(one) != 1 {
		t.Fatalf("one key: asked %v, want once", one)
	}
	two := asked([][]byte{k1, k2}, true)
	if len(two) != 2 || two[0] != one[0] || two[1] == one[0] {
		t.Errorf("two keys: asked %v, want %s then another name", two, one[0])
	}
	if refused := asked([][]byte{k1, k2}, false); len(refused) != 1 {
		t.Errorf("two keys, refused by the first: asked %v, want once", refused)
	}
}

// TestSharedLimitsFallBackToTheReplica: when the shared count cannot be
// had, the replica counts alone, says so once, counts it in a metric, and
// does not ask again for every request.
func TestSharedLimitsFallBackToTheReplica(t *testing.T) {
	f, store, send := sharedFixture(t, 2)
	store.set(false, 0, fmt.Errorf("redis rate limit: %w", callback.ErrUnavailable))
	codes := []int{}
	for i := range 4 {
		codes = append(codes, send(i).Code)
	}
	if fmt.Sprint(codes) != "[200 200 429 429]" {
		t.Errorf("with the shared count gone: %v, want the replica's own limit of 2", codes)
	}
	if n := len(store.questions()); n != 1 {
		t.Errorf("asked the shared limiter %d times, want once: after it failed, not per request", n)
	}
	if got := strings.Count(f.logs.String(), "rate limits are counted per replica"); got != 1 {
		t.Errorf("%d log lines about the fallback, want 1:\n%s", got, f.logs.String())
	}
	rec := httptest.NewRecorder()
	f.metricsHandler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "oauth_callback_rate_limits_local_total 4") {
		t.Errorf("the fallback is not counted: %s", grepLines(rec.Body.String(), "rate_limits_local"))
	}
}

// TestSharedLimitsOff: RATE_LIMIT_SHARED=false counts on the replica even
// when the store could share.
func TestSharedLimitsOff(t *testing.T) {
	store := &sharedLimitStore{Store: memstore.New(callback.StoreConfig{}, memstore.Config{}), allowed: true}
	t.Cleanup(func() { store.Close() })
	f := newFixtureWithStore(t, store, func(o *httpapi.Options) { o.RateLimits = httpapi.RateLimits{Callback: 1} })
	f.get(t, "/callback?code=c&state=off-1")
	if rec := f.get(t, "/callback?code=c&state=off-2"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("second callback: %d, want the replica's own 429", rec.Code)
	}
	if asked := store.questions(); len(asked) != 0 {
		t.Errorf("asked the shared limiter with sharing off: %v", asked)
	}
}

func grepLines(text, substr string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}

// TestAnAppsOwnLimits: an app's rate_limit_register and rate_limit_api
// replace the service's for its tokens; another app keeps the service's.
func TestAnAppsOwnLimits(t *testing.T) { synctest.Test(t, testAnAppsOwnLimits) }

func testAnAppsOwnLimits(t *testing.T) {
	all := tokenApps(t, "mail="+goodToken, "files="+secondToken)
	all[1].RateLimitRegister, all[1].RateLimitAPI = 2, 4 // mail (sorted after files)
	f := newFixture(t, func(o *httpapi.Options) {
		o.Apps = all
		o.RateLimits = httpapi.RateLimits{API: 100, Register: 50}
	})
	send := func(method, token string, i int) int {
		return f.do(t, method, fmt.Sprintf("/api/callback/own-limits-%s-%d", token[:8], i), nil, "Authorization", "Bearer "+token).Code
	}
	var mail, files []int
	for i := range 3 {
		mail = append(mail, send(http.MethodPut, goodToken, i))
		files = append(files, send(http.MethodPut, secondToken, i))
	}
	if fmt.Sprint(mail) != "[201 201 429]" || fmt.Sprint(files) != "[201 201 201]" {
		t.Errorf("registrations: mail %v (its own limit of 2), files %v (the service's 50)", mail, files)
	}
	mail, files = nil, nil
	for i := range 2 { // mail's API limit of 4: three requests above, two here
		mail = append(mail, send(http.MethodGet, goodToken, i))
		files = append(files, send(http.MethodGet, secondToken, i))
	}
	if fmt.Sprint(mail) != "[404 429]" || fmt.Sprint(files) != "[404 404]" {
		t.Errorf("takes: mail %v (its own limit of 4), files %v", mail, files)
	}
}
