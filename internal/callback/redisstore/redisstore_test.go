package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/redisstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/storetest"
	"github.com/oauth-callback-server/oauth-callback-server/internal/redistest"
)

// clocks gives each subtest its own fake clock for the pending count, moved
// together with miniredis's TTLs.
type clocks struct {
	mu sync.Mutex
	m  map[testing.TB]*time.Time
}

func (c *clocks) now(t testing.TB) func() time.Time {
	return func() time.Time {
		c.mu.Lock()
		defer c.mu.Unlock()
		return *c.get(t)
	}
}

func (c *clocks) advance(t testing.TB, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.get(t)
	*p = p.Add(d)
}

func (c *clocks) get(t testing.TB) *time.Time {
	if c.m == nil {
		c.m = map[testing.TB]*time.Time{}
	}
	if c.m[t] == nil {
		now := time.Unix(1_700_000_000, 0)
		c.m[t] = &now
	}
	return c.m[t]
}

func newClient(t testing.TB, url string) redis.UniversalClient {
	t.Helper()
	client, err := redisstore.NewClient(redisstore.ClientConfig{URL: url, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func TestStoreSuiteOnMiniredis(t *testing.T) {
	var c clocks
	servers := map[*testing.T]*miniredis.Miniredis{}
	storetest.Run(t, storetest.Harness{
		NewStore: func(t *testing.T, ttl time.Duration, require bool) callback.Store {
			m := miniredis.RunT(t)
			servers[t] = m
			return redisstore.New(newClient(t, "redis://"+m.Addr()), redisstore.Options{TTL: ttl, Now: c.now(t), RequireRegistration: require})
		},
		Advance: func(t *testing.T, d time.Duration) {
			servers[t].FastForward(d)
			c.advance(t, d)
		},
	})
}

func TestStoreSuiteOnRealRedis(t *testing.T) {
	srv := redistest.Start(t)
	n := 0
	storetest.Run(t, storetest.Harness{
		NewStore: func(t *testing.T, ttl time.Duration, require bool) callback.Store {
			// One server, a fresh key prefix per subtest: subtests see an
			// empty store without restarting Redis.
			n++
			prefix := "test" + strings.Repeat("x", n) + ":"
			return redisstore.New(newClient(t, srv.URL()), redisstore.Options{Prefix: prefix, TTL: ttl, RequireRegistration: require})
		},
		Advance: func(_ *testing.T, d time.Duration) { time.Sleep(d) },
	})
}

func TestKeysAndValuesNeverHoldTheState(t *testing.T) {
	m := miniredis.RunT(t)
	s := redisstore.New(newClient(t, "redis://"+m.Addr()), redisstore.Options{Prefix: "p:", TTL: 10 * time.Minute})
	t.Cleanup(func() { s.Close() })
	const state = "Xy7-state-0123456789abcdefghijklmnopqrstuvw"
	ctx := context.Background()
	if err := s.Put(ctx, callback.Callback{State: state, Code: "the-code"}); err != nil {
		t.Fatal(err)
	}
	keys := m.Keys()
	if len(keys) != 2 {
		t.Fatalf("keys: got %v, want the callback and the pending set", keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "p:") {
			t.Errorf("key %q lacks the prefix", k)
		}
		if strings.Contains(k, state) {
			t.Errorf("key %q contains the raw state", k)
		}
		if m.Type(k) == "string" {
			v, _ := m.Get(k)
			if strings.Contains(v, state) || strings.Contains(v, "the-code") {
				t.Errorf("value of %q contains the raw state or the code", k)
			}
			if ttl := m.TTL(k); ttl != 10*time.Minute {
				t.Errorf("TTL of %q: got %v, want 10m", k, ttl)
			}
		}
	}
	if _, err := s.Take(ctx, state); err != nil {
		t.Fatal(err)
	}
	for _, k := range m.Keys() {
		if strings.HasSuffix(k, ":taken") {
			if ttl := m.TTL(k); ttl != 10*time.Minute {
				t.Errorf("tombstone TTL: got %v, want 10m", ttl)
			}
			return
		}
	}
	t.Errorf("no tombstone after take; keys: %v", m.Keys())
}

func TestUnreachableRedisIsUnavailableAndFast(t *testing.T) {
	m := miniredis.RunT(t)
	client, err := redisstore.NewClient(redisstore.ClientConfig{URL: "redis://" + m.Addr(), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := redisstore.New(client, redisstore.Options{})
	t.Cleanup(func() { s.Close() })
	m.Close()

	ctx := context.Background()
	ops := map[string]func() error{
		"put":     func() error { return s.Put(ctx, callback.Callback{State: "s", Code: "c"}) },
		"take":    func() error { _, err := s.Take(ctx, "s"); return err },
		"pending": func() error { _, err := s.Pending(ctx); return err },
		"ping":    func() error { return s.Ping(ctx) },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			if err := op(); !errors.Is(err, callback.ErrUnavailable) {
				t.Fatalf("got %v, want ErrUnavailable", err)
			}
		})
	}
}

func TestCheckVersionOnRealRedis(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv.URL())
	t.Cleanup(func() { client.Close() })
	if err := redisstore.CheckVersion(context.Background(), client); err != nil {
		t.Fatalf("CheckVersion: %v", err)
	}
}

func TestNewClientRejectsBadURLs(t *testing.T) {
	for _, url := range []string{"http://localhost:6379", "redis://localhost:6379/notadb", "://"} {
		if _, err := redisstore.NewClient(redisstore.ClientConfig{URL: url, Timeout: time.Second}); err == nil {
			t.Errorf("NewClient(%q): no error", url)
		}
	}
}

func BenchmarkPutTakeRealRedis(b *testing.B) {
	srv := redistest.Start(b)
	s := redisstore.New(newClient(b, srv.URL()), redisstore.Options{})
	b.Cleanup(func() { s.Close() })
	storetest.Bench(b, s)
}
