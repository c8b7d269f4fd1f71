// Package legacy is the Redis layout of the releases before the data
// plane was rebuilt (issue 34): per state name four string keys
// (P{t}:n, :taken, :reg, :owner), a link key, and a byte budget in seven
// accounting keys of one slot, P{accounts}. The current store
// (redisstore) reads it, and finishes the sign-ins it holds, while a
// rolling upgrade runs the previous release beside this one and until
// what the previous release wrote has expired (redisstore's bridge.go).
// Nothing new is written in this layout but the next step of a sign-in
// it holds. The package is the previous release's code, unchanged but
// for its name and for the pub/sub, which the current store does: delete
// it once no deployment can still run the previous release.
//
// Layout, for a prefix P, n = seal.Name(state) and t = the first four hex
// digits of SHA-256(state):
//
//	P{t}:n        the callback: its fingerprint, then the sealed value
//	P{t}:n:taken  tombstone: "t" and the taken callback's fingerprint; "c"
//	              conflicted; "x" cancelled; "l" a sign-in link's marker
//	P{t}:n:reg    registration (sealed metadata, or a sealed link)
//	P{t}:n:owner  the app that registered the state
//	P{accounts}:pending, :sizes, :bytes, :bytes:unregistered,
//	P{accounts}:bytes:registrations, :registrations, :bytes:apps
//	              the byte budget (accounting.lua)
//	Pstored       pub/sub channel: n is published when a callback is stored
package legacy

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/seal"
)

// Options configures a Store: the current store's.
type Options struct {
	Prefix             string
	Sealer             *seal.Sealer
	MinReplicas        int
	MinReplicasTimeout time.Duration
	Cluster            bool
	Now                func() time.Time
}

// Store is the previous release's layout on Redis.
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
}

// New returns a Store on client, which the caller keeps and closes. store
// must have its defaults (callback.StoreConfig.WithDefaults), opts its
// prefix, sealer and clock.
func New(client redis.UniversalClient, store callback.StoreConfig, opts Options) *Store {
	secs := max(int64(store.TTL.Round(time.Second)/time.Second), 1)
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

// Live counts what the layout still holds that lives: callbacks pending
// and registrations, by the accounting sets' expiry scores (tombstones and
// markers outlive them by a TTL at most); used says whether its accounting
// keys exist at all. One slot, one pipeline.
func (s *Store) Live(ctx context.Context) (live int64, used bool, err error) {
	now := strconv.FormatInt(s.now().UnixMilli(), 10)
	pipe := s.client.Pipeline()
	pending := pipe.ZCount(ctx, s.accounting[0], now, "+inf")
	registrations := pipe.ZCount(ctx, s.accounting[5], now, "+inf")
	exists := pipe.Exists(ctx, s.accounting...)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, false, storeError("count the previous layout's entries", err)
	}
	return pending.Val() + registrations.Val(), exists.Val() > 0, nil
}

// Forget removes the accounting keys, once nothing the layout held can
// live any more: a store that starts later then knows the layout unused.
func (s *Store) Forget(ctx context.Context) error {
	if err := s.client.Del(ctx, s.accounting...).Err(); err != nil {
		return storeError("remove the previous layout's accounting keys", err)
	}
	return nil
}

// Holds reports whether the layout holds anything of state (a callback, a
// tombstone, a registration or a link's marker), under any of its names:
// a sign-in that began in this layout finishes in it.
func (s *Store) Holds(ctx context.Context, state string) (bool, error) {
	k := s.keys(state)
	var keys []string
	for _, n := range k.names {
		keys = append(keys, n.callback, n.tombstone, n.registration)
	}
	n, err := s.client.Exists(ctx, keys...).Result()
	if err != nil {
		return false, storeError("look for the state in the previous layout", err)
	}
	return n > 0, nil
}

// HoldsLink reports whether the layout holds the sign-in link id.
func (s *Store) HoldsLink(ctx context.Context, id string) (bool, error) {
	n, err := s.client.Exists(ctx, s.linkKeys(id)...).Result()
	if err != nil {
		return false, storeError("look for the link in the previous layout", err)
	}
	return n > 0, nil
}

// StoredChannel is the channel the previous release publishes a state's
// name on when its callback is stored.
func (s *Store) StoredChannel() string { return s.channel }

// storeError maps a Redis error: out of memory (maxmemory with
// noeviction) is a full store; anything else means Redis cannot serve.
func storeError(op string, err error) error {
	if isOutOfMemory(err) {
		return fmt.Errorf("redis %s: %w: %w", op, &callback.FullError{Part: callback.PartRedisMemory}, err)
	}
	return fmt.Errorf("redis %s: %w: %w", op, callback.ErrUnavailable, err)
}

func isOutOfMemory(err error) bool {
	return redis.HasErrorPrefix(err, "OOM") || strings.Contains(err.Error(), "OOM command not allowed")
}
