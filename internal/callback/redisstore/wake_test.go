package redisstore_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/redisstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testwait"
)

// A replica subscribes to a state's channel only while it holds a waiter
// for the state, and a replica with no waiter reads nothing: a callback's
// wake-up reaches the replicas waiting for it, not every replica. On a
// single server (PUBLISH) and on Cluster (SPUBLISH, on the partition's
// node).
func TestOnlyAWaitingReplicaIsSubscribed(t *testing.T) {
	t.Parallel()
	single := redistest.Start(t)
	cluster := redistest.StartCluster(t, 3, 0)
	for name, cfg := range map[string]redisstore.Config{
		"redis":   {URL: single.URL(), Timeout: time.Second},
		"cluster": {ClusterAddrs: cluster.Addrs(), Timeout: time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			client, err := redisstore.NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			s := redisstore.New(client, callback.StoreConfig{}, redisstore.Options{Prefix: "wake-" + name + ":", Cluster: cfg.Cluster()})
			t.Cleanup(func() { s.Close() })
			admin, err := redisstore.NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { admin.Close() })
			ctx := context.Background()
			subscribers := func(channel string) int64 {
				if !cfg.Cluster() {
					n, err := admin.PubSubNumSub(ctx, channel).Result()
					if err != nil {
						t.Fatal(err)
					}
					return n[channel]
				}
				// Each node counts its own shard channels' subscribers.
				var total atomic.Int64
				err := admin.(*redis.ClusterClient).ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
					n, err := node.PubSubShardNumSub(ctx, channel).Result()
					total.Add(n[channel])
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				return total.Load()
			}
			const state = "waited-for"
			channel := s.WakeChannel(state)
			if n := subscribers(channel); n != 0 {
				t.Fatalf("before any waiter: %d subscribers", n)
			}
			wake, cancel := s.Subscribe(state)
			select {
			case <-wake: // the subscription is active
			case <-time.After(5 * time.Second):
				t.Fatal("the subscription did not become active")
			}
			if n := subscribers(channel); n != 1 {
				t.Fatalf("with a waiter: %d subscribers, want 1", n)
			}
			if n := subscribers(s.WakeChannel("another state")); n != 0 {
				t.Fatalf("another state's channel: %d subscribers", n)
			}
			if _, err := s.Put(ctx, callback.Callback{State: state, Code: "c"}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-wake:
			case <-time.After(5 * time.Second):
				t.Fatal("the waiter was not woken")
			}
			cancel()
			testwait.Until(t, 5*time.Second, "the channel left once its last waiter did", func() bool { return subscribers(channel) == 0 })
		})
	}
}
