// Package redisstore is the callback.Store shared by any number of replicas
// through Redis (standalone today; go-redis's UniversalClient leaves room for
// Sentinel and Cluster).
//
// Layout, for a prefix P and h = hex(SHA-256(state)):
//
//	P{h}        the callback, JSON, written with SET NX EX <ttl>
//	P{h}:taken  tombstone of a taken callback, so a second take answers 410
//	Ppending    sorted set of h scored by expiry (ms), so active_callbacks is
//	            a ZCOUNT (O(log n)) and never a scan of the keyspace
//	Pstored     pub/sub channel: h is published when a callback is stored, so
//	            long-poll waiters on every replica wake at once
//
// The raw state never appears in a key or a value. The braces are a Cluster
// hash tag: a callback and its tombstone always live in one slot. Each
// operation is one Lua script, so one round trip.
package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/wakeup"
)

var (
	_ callback.Store    = (*Store)(nil)
	_ callback.Notifier = (*Store)(nil)
)

// putScript stores the callback unless one is stored (SET NX) or was taken
// (tombstone), counts it as pending and wakes the waiters, in one atomic
// step and one round trip. Atomicity matters: a callback arriving while
// another replica takes the first one can never slip in between GETDEL and
// the tombstone.
//
// KEYS: callback, tombstone, pending set.
// ARGV: value, ttl seconds, expiry ms, hash, now ms, channel.
var putScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[5])
redis.call('PUBLISH', ARGV[6], ARGV[4])
return 1
`)

// takeScript removes and returns the callback with GETDEL, leaves a
// tombstone and uncounts it, in one atomic step. Returns {1, value} when
// taken, {2} when taken before, {0} when there is nothing.
//
// KEYS: callback, tombstone, pending set.
// ARGV: ttl seconds, hash.
var takeScript = redis.NewScript(`
local v = redis.call('GETDEL', KEYS[1])
if v then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[2])
  return {1, v}
end
if redis.call('EXISTS', KEYS[2]) == 1 then return {2} end
return {0}
`)

// Options configures a Store.
type Options struct {
	// Prefix starts every key, so that several deployments can share one
	// Redis. Default "oauth-callback:".
	Prefix string
	// TTL is how long a callback, and the tombstone of a taken one, lives.
	// Whole seconds (SET … EX); default 10 minutes.
	TTL time.Duration
	// Now replaces time.Now for the pending count's expiry scores; for tests.
	Now func() time.Time
}

// Store is a callback.Store on Redis.
type Store struct {
	client  redis.UniversalClient
	prefix  string
	ttlSecs int64
	ttl     time.Duration
	now     func() time.Time

	// One subscription per process, started by the first Subscribe, fans
	// wake-ups out to the local waiters.
	waiters *wakeup.Hub
	subOnce sync.Once
	subMu   sync.Mutex
	pubsub  *redis.PubSub
	subDone chan struct{}
	closed  bool
}

// New returns a Store on client. The Store owns the client: Close closes it.
func New(client redis.UniversalClient, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = "oauth-callback:"
	}
	if opts.TTL <= 0 {
		opts.TTL = 10 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	secs := int64(opts.TTL.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return &Store{
		client:  client,
		prefix:  opts.Prefix,
		ttlSecs: secs,
		ttl:     time.Duration(secs) * time.Second,
		now:     opts.Now,
		waiters: wakeup.NewHub(),
	}
}

// Put implements callback.Store.
func (s *Store) Put(ctx context.Context, c callback.Callback) error {
	value, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode callback: %w", err)
	}
	h := hashState(c.State)
	now := s.now()
	stored, err := putScript.Run(ctx, s.client, s.keys(h),
		value, s.ttlSecs, now.Add(s.ttl).UnixMilli(), h, now.UnixMilli(), s.storedChannel()).Int()
	if err != nil {
		return unavailable("store callback", err)
	}
	if stored == 0 {
		return callback.ErrExists
	}
	return nil
}

// Take implements callback.Store.
func (s *Store) Take(ctx context.Context, state string) (callback.Callback, error) {
	h := hashState(state)
	res, err := takeScript.Run(ctx, s.client, s.keys(h), s.ttlSecs, h).Slice()
	if err != nil {
		return callback.Callback{}, unavailable("take callback", err)
	}
	if len(res) == 0 {
		return callback.Callback{}, fmt.Errorf("take callback: empty reply")
	}
	switch res[0] {
	case int64(0):
		return callback.Callback{}, callback.ErrNotFound
	case int64(2):
		return callback.Callback{}, callback.ErrAlreadyTaken
	}
	raw, ok := res[1].(string)
	if len(res) != 2 || !ok {
		return callback.Callback{}, fmt.Errorf("take callback: unexpected reply %v", res)
	}
	var c callback.Callback
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		// Taken and unreadable: the code is gone either way. Say so plainly
		// rather than pretend it never arrived.
		return callback.Callback{}, fmt.Errorf("decode stored callback: %w", err)
	}
	c.State = state
	return c, nil
}

// Pending implements callback.Store.
func (s *Store) Pending(ctx context.Context) (int64, error) {
	n, err := s.client.ZCount(ctx, s.pendingKey(), strconv.FormatInt(s.now().UnixMilli(), 10), "+inf").Result()
	if err != nil {
		return 0, unavailable("count pending callbacks", err)
	}
	return n, nil
}

// Ping implements callback.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// Subscribe implements callback.Notifier.
func (s *Store) Subscribe(state string) (<-chan struct{}, func()) {
	s.subOnce.Do(s.startSubscriber)
	return s.waiters.Subscribe(hashState(state))
}

// startSubscriber opens the process's one subscription. go-redis
// re-establishes it after a connection loss; every (re)subscription wakes
// all local waiters, so a callback published while the subscription was
// down is found by their re-check.
func (s *Store) startSubscriber() {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if s.closed {
		return
	}
	s.pubsub = s.client.Subscribe(context.Background(), s.storedChannel())
	messages := s.pubsub.ChannelWithSubscriptions(redis.WithChannelHealthCheckInterval(time.Second))
	s.subDone = make(chan struct{})
	go func() {
		defer close(s.subDone)
		for msg := range messages {
			switch m := msg.(type) {
			case *redis.Subscription:
				s.waiters.NotifyAll()
			case *redis.Message:
				s.waiters.Notify(m.Payload)
			}
		}
	}()
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

// keys are the KEYS of both scripts. The pending set is a key of its own,
// so on Redis Cluster it would live in another slot than the callback:
// Cluster support has to move its bookkeeping out of the scripts.
func (s *Store) keys(h string) []string {
	return []string{s.callbackKey(h), s.tombstoneKey(h), s.pendingKey()}
}

func (s *Store) callbackKey(h string) string  { return s.prefix + "{" + h + "}" }
func (s *Store) tombstoneKey(h string) string { return s.prefix + "{" + h + "}:taken" }
func (s *Store) pendingKey() string           { return s.prefix + "pending" }
func (s *Store) storedChannel() string        { return s.prefix + "stored" }

func hashState(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

func unavailable(op string, err error) error {
	return fmt.Errorf("redis %s: %w: %w", op, callback.ErrUnavailable, err)
}
