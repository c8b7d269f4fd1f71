// Package redisstore is the callback.Store shared by any number of replicas
// through Redis: standalone, Sentinel or Cluster, behind go-redis's
// UniversalClient.
//
// Layout, for a prefix P, n = seal.Name(state) (a keyed hash of the state;
// while keys rotate, a state has one name per key) and t = the first four
// hex digits of SHA-256(state):
//
//	P{t}:n        the callback: its fingerprint, then the sealed value
//	              (AES-256-GCM), written once (the script checks first)
//	P{t}:n:taken  tombstone: "t" and the taken callback's fingerprint, so a
//	              second take answers 410 and a replay is told apart from a
//	              different callback; "c" for a conflicted state
//	P{t}:n:reg    registration of the state (sealed metadata), when registered
//	P{accounts}:pending
//	              sorted set of n scored by expiry (ms), so active_callbacks is
//	              a ZCOUNT (O(log n)) and never a scan of the keyspace
//	P{accounts}:sizes, P{accounts}:bytes, P{accounts}:bytes:unregistered,
//	P{accounts}:bytes:registrations, P{accounts}:registrations
//	              the byte budget: each pending callback's (and, as "g:n",
//	              registration's) class and size, their sum, the parts held
//	              by unregistered states' callbacks and by registrations,
//	              and the registrations by expiry (accounting.lua)
//	Pstored       pub/sub channel: n is published when a callback is stored
//	              or a state conflicts, so waiters on every replica wake at once
//
// Neither a state nor a code appears in a key, a value or a published
// message. The braces are a Cluster hash tag: every name of a state lives in
// one slot, so one script sees all of them. The tag depends on the state
// alone (every replica must agree on it, whatever its keys) and is short,
// 16 bits, so it narrows down nothing worth having. Each operation is one
// Lua script, so one round trip (more on Cluster, where the accounting keys
// live in another slot).
//
// A file per job: keys.go builds every key, scripts.go loads the scripts
// (scripts/*.lua) and replies.go types what they answer; register.go,
// put.go, take.go, status.go and cancel.go are the operations; links.go
// holds sign-in links, cluster.go the Cluster path's accounting,
// replicas.go the wait for replicas (WAIT), notify.go the wake-ups.
package redisstore

import (
	"context"
	_ "embed"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/seal"
	"github.com/oauth-callback-server/oauth-callback-server/internal/wakeup"
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
	// MinReplicas, when positive, makes Put wait (WAIT) up to
	// MinReplicasTimeout for that many replicas to acknowledge the callback,
	// and return callback.ErrNotReplicated when fewer do. Not with Cluster.
	MinReplicas        int
	MinReplicasTimeout time.Duration
	// Cluster: the client talks to Redis Cluster, where a script may only
	// touch keys of one slot; the pending count, a key of its own, is then
	// kept by separate commands after each script.
	Cluster bool
	// Now replaces time.Now for the pending count's expiry scores; for tests.
	Now func() time.Time
}

// Store is a callback.Store on Redis.
type Store struct {
	client  redis.UniversalClient
	prefix  string
	ttlSecs int64
	ttl     time.Duration
	sealer  *seal.Sealer
	require bool
	// byte budget; 0: none
	maxBytes, maxBytesUnregistered, maxBytesRegistrations int64
	budget                                                callback.StoreConfig // its AppBudget
	appBudgets                                            []any                // put.lua's last ARGV: the apps' shares
	accounting                                            []string             // see accountingKeys
	channel                                               string               // see storedChannel
	cluster                                               bool
	// WAIT for replicas after a put
	minReplicas        int
	minReplicasTimeout time.Duration
	now                func() time.Time
	limiter            *redis_rate.Limiter // see Allow

	// One subscription per process, started by the first Subscribe, fans
	// wake-ups out to the local waiters.
	waiters *wakeup.Hub
	subOnce sync.Once
	subMu   sync.Mutex
	pubsub  *redis.PubSub
	subDone chan struct{}
	closed  bool
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
	secs := int64(store.TTL.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return &Store{
		client:  client,
		prefix:  opts.Prefix,
		ttlSecs: secs,
		ttl:     time.Duration(secs) * time.Second,
		sealer:  opts.Sealer,
		require: store.RequireRegistration,

		maxBytes:              store.MaxBytes,
		maxBytesUnregistered:  int64(float64(store.MaxBytes) * callback.UnregisteredShare),
		maxBytesRegistrations: int64(float64(store.MaxBytes) * callback.RegistrationShare),
		budget:                store,
		appBudgets:            appBudgets(store),
		accounting:            accountingKeys(opts.Prefix),
		channel:               opts.Prefix + "stored",
		cluster:               opts.Cluster,

		minReplicas:        opts.MinReplicas,
		minReplicasTimeout: opts.MinReplicasTimeout,
		now:                opts.Now,
		limiter:            redis_rate.NewLimiter(limitKeys{client, opts.Prefix}),
		waiters:            wakeup.NewHub(),
	}
}

// appBudgets are put.lua's last ARGV: m, then m pairs of an app with a
// share of its own and the share's bytes.
func appBudgets(store callback.StoreConfig) []any {
	var pairs []any
	for _, app := range slices.Sorted(maps.Keys(store.AppShares)) {
		if total, _, ok := store.AppBudget(app); ok {
			pairs = append(pairs, app, total)
		}
	}
	return append([]any{len(pairs) / 2}, pairs...)
}

// chargedTo is the app a registration's bytes are charged to, with its
// share's bytes and its registrations'; "" when it has no share of its
// own.
func (s *Store) chargedTo(app string) (string, int64, int64) {
	total, registrations, ok := s.budget.AppBudget(app)
	if !ok {
		return "", 0, 0
	}
	return app, total, registrations
}

// Pending implements callback.Store.
func (s *Store) Pending(ctx context.Context) (int64, error) {
	n, err := s.client.ZCount(ctx, s.pendingKey(), strconv.FormatInt(s.now().UnixMilli(), 10), "+inf").Result()
	if err != nil {
		return 0, storeError("count pending callbacks", err)
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
	s.subMu.Lock()
	s.closed = true
	ps, done := s.pubsub, s.subDone
	s.subMu.Unlock()
	if ps != nil {
		_ = ps.Close()
		<-done
	}
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
