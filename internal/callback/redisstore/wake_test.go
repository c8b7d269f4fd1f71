package redisstore_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/auth"

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

// With a cloud identity, each new token opens the wake-up subscriptions
// again, on a connection that signs in with it: go-redis re-authenticates
// only pooled connections, and the caches end one whose sign-in has aged.
// The waiters look again once the new subscription is confirmed, and
// wake-ups keep coming.
func TestANewTokenOpensTheSubscriptionsAgain(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cfg := redisstore.Config{URL: srv.URL(), Timeout: time.Second}
	client, err := redisstore.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tokens := &renewingProvider{}
	s := redisstore.New(client, callback.StoreConfig{}, redisstore.Options{Prefix: "renew:", Credentials: tokens})
	t.Cleanup(func() { s.Close() })
	admin, err := redisstore.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx := context.Background()
	subscriptionConns := func() []string {
		list, err := admin.Do(ctx, "CLIENT", "LIST", "TYPE", "pubsub").Text()
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
			if id, _, ok := strings.Cut(line, " "); ok && strings.HasPrefix(id, "id=") {
				ids = append(ids, id)
			}
		}
		return ids
	}
	awoken := func(wake <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-wake:
		case <-time.After(5 * time.Second):
			t.Fatal(what)
		}
	}

	const state = "renewed"
	wake, cancel := s.Subscribe(state)
	defer cancel()
	awoken(wake, "the subscription did not become active")
	before := subscriptionConns()
	if len(before) != 1 {
		t.Fatalf("subscription connections before the new token: %v", before)
	}
	tokens.renew()
	testwait.Until(t, 10*time.Second, "the subscription on a new connection, the old one closed", func() bool {
		now := subscriptionConns()
		return len(now) == 1 && now[0] != before[0]
	})
	awoken(wake, "the new subscription did not wake its waiter to look again")
	if _, err := s.Put(ctx, callback.Callback{State: state, Code: "c"}); err != nil {
		t.Fatal(err)
	}
	awoken(wake, "a callback after the new token did not wake its waiter")
}

// renewingProvider stands in for redisauth's: renew hands a new token to
// everyone subscribed.
type renewingProvider struct {
	mu        sync.Mutex
	listeners []auth.CredentialsListener
}

func (p *renewingProvider) Subscribe(l auth.CredentialsListener) (auth.Credentials, auth.UnsubscribeFunc, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.listeners = append(p.listeners, l)
	return auth.NewBasicCredentials("", ""), func() error { return nil }, nil
}

func (p *renewingProvider) renew() {
	p.mu.Lock()
	listeners := slices.Clone(p.listeners)
	p.mu.Unlock()
	for _, l := range listeners {
		l.OnNext(auth.NewBasicCredentials("", "next"))
	}
}
