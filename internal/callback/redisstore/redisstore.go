// Package redisstore is the callback.Store shared by any number of replicas
// through Redis: standalone, Sentinel or Cluster, behind go-redis's
// UniversalClient.
//
// Layout, for a prefix P, a state's partition tag {p} (one of 16, by the
// state's SHA-256: layout.go) and its name n = seal.Name(state) (a keyed
// hash; while keys rotate, a state has one name per key, and its record
// is written under each):
//
//	P{p}:s:n      the sign-in's record, one short string: "phase until fp
//	              callback registration held owner appcap link issuer"
//	              (layout.go), "-" for an empty field
//	P{p}:cb:x     a sealed callback, P{p}:reg:x a sealed registration, for
//	              the random nonce x the record names: written and read by
//	              plain commands, never through a script
//	P{p}:cb:taken:x, P{p}:reg:taken:x
//	              the same, renamed by the take that won them, which
//	              reads and deletes them (GETDEL) right after
//	P{p}:budget   the partition's part of the byte budget, one hash: the
//	              bytes held by class (u unregistered, g registrations, r
//	              registered callbacks) and by app (a:app, ag:app), the
//	              callbacks pending (n), beside each the part that stops
//	              counting in second t (u@t, …), and the second they are
//	              counted up to (t)
//	P{p}:link:l   a sign-in link's ID's name l: the state, sealed
//	P{p}:wake:n   pub/sub channel of a state's wake-ups (sharded on
//	              Cluster), which only a replica with a waiter for the
//	              state subscribes to
//	Prate:k       a shared rate limit's counter (limits.go, redis_rate)
//
// During an upgrade from the previous release, bridge.go also reads that
// release's keys (package legacy) until none is left.
//
// Neither a state nor a code appears in a key, a value or a published
// message. Every key of a sign-in and its part of the budget share the
// partition's slot, so each step is one script on one node, and no key is
// shared by all sign-ins. A step is computed in Go (callback's state
// machine, steps.go) from the record read, and made by step.lua only if
// the record is still that one; a read that changes nothing (a take that
// finds no callback, a status) is one GET.
//
// A file per job: layout.go names the keys and fields, record.go reads
// and writes a record, steps.go runs a step, scripts.go loads the
// scripts; register.go, put.go, take.go, status.go, cancel.go and
// start.go are the operations; budget.go the budget's numbers, wake.go
// the wake-ups, bridge.go the previous release's layout (package legacy)
// during an upgrade.
package redisstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/auth"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/legacy"
	"github.com/oauth-callback-server/oauth-callback-server/internal/seal"
)

var (
	_ callback.Store    = (*Store)(nil)
	_ callback.Notifier = (*Store)(nil)
)

// Options configures a Store.
type Options struct {
	// Prefix starts every key; default DefaultConfig's KeyPrefix.
	Prefix string
	// Sealer encrypts values and names keys; default: seal.New(nil), no
	// server secret.
	Sealer *seal.Sealer
	// MinReplicas, when positive, makes Put, Take and Cancel wait (WAIT)
	// up to MinReplicasTimeout for that many replicas to acknowledge what
	// they wrote, and return callback.ErrNotReplicated when fewer do. Not
	// with Cluster.
	MinReplicas        int
	MinReplicasTimeout time.Duration
	// Cluster: the client talks to Redis Cluster; wake-ups then use
	// sharded pub/sub, which stays on the partition's node.
	Cluster bool
	// Now replaces time.Now for the phases' ends and the budget's minutes;
	// for tests.
	Now func() time.Time
	// Credentials, with a cloud identity: the store opens its wake-up
	// subscriptions again with each new token. go-redis sends AUTH with a
	// new token only on a connection going back to the pool, which a
	// subscription's never does, and the caches end a connection whose
	// sign-in has aged (ElastiCache and MemoryDB after 12 hours, Azure at
	// the token's expiry).
	Credentials auth.StreamingCredentialsProvider
}

// Store is a callback.Store on Redis.
type Store struct {
	client  redis.UniversalClient
	keys    keyspace
	ttl     time.Duration // whole seconds
	sealer  *seal.Sealer
	require bool
	budget  *partitionBudget
	cluster bool
	// WAIT for replicas after a write
	minReplicas        int
	minReplicasTimeout time.Duration
	now                func() time.Time
	limiter            *redis_rate.Limiter // see Allow

	wake   *wakeups
	bridge *bridge
	// stopRenewals ends the subscription to Credentials' new tokens.
	stopRenewals auth.UnsubscribeFunc
}

// New returns a Store on client, configured by store and opts. The Store
// owns the client: Close closes it. A zero TTL is callback.DefaultTTL.
func New(client redis.UniversalClient, store callback.StoreConfig, opts Options) *Store {
	store = store.WithDefaults()
	if opts.Prefix == "" {
		opts.Prefix = DefaultConfig().KeyPrefix
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sealer == nil {
		opts.Sealer = seal.New(nil)
	}
	store.TTL = max(store.TTL.Round(time.Second), time.Second)
	s := &Store{
		client:             client,
		keys:               keyspace{opts.Prefix},
		ttl:                store.TTL,
		sealer:             opts.Sealer,
		require:            store.RequireRegistration,
		budget:             newBudget(store),
		cluster:            opts.Cluster,
		minReplicas:        opts.MinReplicas,
		minReplicasTimeout: opts.MinReplicasTimeout,
		now:                opts.Now,
		limiter:            redis_rate.NewLimiter(limitKeys{client, opts.Prefix}),
	}
	s.wake = newWakeups(client, opts.Cluster)
	if opts.Credentials != nil {
		// Without a token at hand (the identity cannot sign in now), the
		// subscriptions are opened again when the cache ends them instead.
		if _, stop, err := opts.Credentials.Subscribe(renewals{s.wake}); err == nil {
			s.stopRenewals = stop
		}
	}
	s.bridge = newBridge(s, legacy.New(client, store, legacy.Options{Prefix: opts.Prefix, Sealer: opts.Sealer,
		MinReplicas: opts.MinReplicas, MinReplicasTimeout: opts.MinReplicasTimeout, Cluster: opts.Cluster, Now: opts.Now}))
	return s
}

// Pending implements callback.Store: each partition's pending count,
// brought up to now (catchup.lua, one pipeline), and the previous
// layout's while it lives.
func (s *Store) Pending(ctx context.Context) (int64, error) {
	n, err := s.pending(ctx)
	if isNoScript(err) {
		if err := LoadScripts(ctx, s.client); err != nil {
			return 0, err
		}
		n, err = s.pending(ctx)
	}
	if err != nil {
		return 0, storeError("count pending callbacks", err)
	}
	old, err := s.bridge.pending(ctx)
	return n + old, err
}

func (s *Store) pending(ctx context.Context) (int64, error) {
	now := second(s.now())
	pipe := s.client.Pipeline()
	counts := make([]*redis.Cmd, partitions)
	for p := range partitions {
		counts[p] = catchUpScript.EvalSha(ctx, pipe, []string{s.keys.budget(p)}, append([]any{now, s.maxLife()}, s.budget.totals...)...)
	}
	_, _ = pipe.Exec(ctx) // each command's error is its own
	var n int64
	for _, cmd := range counts {
		c, err := cmd.Int64()
		if err != nil {
			return 0, err
		}
		n += c
	}
	return n, nil
}

// Ping implements callback.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return storeError("ping", err)
	}
	return nil
}

// Close implements callback.Store.
func (s *Store) Close() error {
	if s.stopRenewals != nil {
		_ = s.stopRenewals()
	}
	s.bridge.close() // first: it subscribes the previous release's channel
	s.wake.close()
	return s.client.Close()
}

// storeError maps a Redis error: out of memory (maxmemory with
// noeviction) is a full store, a 503 that asks to come back later, like
// the budget; anything else means Redis cannot serve.
func storeError(op string, err error) error {
	if isOutOfMemory(err) {
		return fmt.Errorf("redis %s: %w: %w", op, &callback.FullError{Part: callback.PartRedisMemory}, err)
	}
	return fmt.Errorf("redis %s: %w: %w", op, callback.ErrUnavailable, err)
}

// isOutOfMemory: Redis answers OOM to a write past maxmemory, also from
// inside a script.
func isOutOfMemory(err error) bool {
	return redis.HasErrorPrefix(err, "OOM") || strings.Contains(err.Error(), "OOM command not allowed")
}
