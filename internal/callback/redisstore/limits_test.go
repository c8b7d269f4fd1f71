package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/redisstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
)

// TestLimitsHoldAcrossStores: three stores on one Redis (three replicas)
// admit one client's limit together, a burst of it, not three times it; a
// second client has its own; the keys lie under the store's prefix. On a
// single server and on Cluster, where a limit must be one key.
func TestLimitsHoldAcrossStores(t *testing.T) {
	t.Parallel()
	single := redistest.Start(t)
	cluster := redistest.StartCluster(t, 3, 0)
	for name, cfg := range map[string]redisstore.Config{
		"redis":   {URL: single.URL()},
		"cluster": {ClusterAddrs: cluster.Addrs()},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var stores []*redisstore.Store
			for range 3 {
				cfg.Timeout = time.Second
				client, err := redisstore.NewClient(cfg)
				if err != nil {
					t.Fatal(err)
				}
				s := redisstore.New(client, callback.StoreConfig{}, redisstore.Options{Prefix: "limits-test:", Cluster: cfg.Cluster()})
				t.Cleanup(func() { _ = s.Close() })
				stores = append(stores, s)
			}
			const perMinute = 30
			admitted := func(key string, requests int) (n int, elapsed time.Duration) {
				start := time.Now()
				for i := range requests {
					ok, retry, err := stores[i%len(stores)].Allow(ctx, key, perMinute)
					if err != nil {
						t.Fatal(err)
					}
					if ok {
						n++
					} else if retry <= 0 || retry > time.Minute/perMinute {
						t.Errorf("refused with Retry-After %v, want within one emission interval (%v)", retry, time.Minute/perMinute)
					}
				}
				return n, time.Since(start)
			}
			n, elapsed := admitted("callback:client-a", 3*perMinute)
			// GCRA: the burst, plus one per minute/perMinute that passed.
			if most := perMinute + int(elapsed/(time.Minute/perMinute)); n < perMinute || n > most {
				t.Errorf("three stores admitted %d of one client's requests in %v, want %d (at most %d), not three times it", n, elapsed, perMinute, most)
			}
			if n, _ := admitted("callback:client-b", 1); n != 1 {
				t.Error("a second client was held back by the first's limit")
			}
			if n, _ := admitted("api:client-a", 1); n != 1 {
				t.Error("another limit of the same client was held back")
			}
		})
	}
	keys := single.Cmd(t, "KEYS", "*")
	if !strings.Contains(keys, "limits-test:rate:callback:client-a") {
		t.Errorf("no limit key under the prefix: %q", keys)
	}
	for _, k := range strings.Fields(keys) {
		if !strings.HasPrefix(k, "limits-test:") {
			t.Errorf("key %q lies outside the store's prefix", k)
		}
	}
}

// TestLimitWithoutRedisIsUnavailable: the limiter's failure is the store's
// usual ErrUnavailable, which the HTTP layer answers by counting alone.
func TestLimitWithoutRedisIsUnavailable(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := redisstore.New(newClient(t, srv.URL()), callback.StoreConfig{}, redisstore.Options{})
	t.Cleanup(func() { _ = s.Close() })
	srv.Stop()
	_, _, err := s.Allow(context.Background(), fmt.Sprint("k", time.Now().UnixNano()), 10)
	if !errors.Is(err, callback.ErrUnavailable) {
		t.Fatalf("%v, want ErrUnavailable", err)
	}
}
