// Package redisstore is the callback.Store shared by any number of replicas
// through Redis: standalone, Sentinel or Cluster, behind go-redis's
// UniversalClient.
//
// Layout, for a prefix P and n = seal.Name(state), a keyed hash of the state:
//
//	P{n}        the callback, sealed (AES-256-GCM), written with SET NX EX <ttl>
//	P{n}:taken  tombstone of a taken callback, so a second take answers 410
//	P{n}:reg    registration of the state (sealed metadata), when registered
//	Ppending    sorted set of n scored by expiry (ms), so active_callbacks is
//	            a ZCOUNT (O(log n)) and never a scan of the keyspace
//	Pstored     pub/sub channel: n is published when a callback is stored, so
//	            long-poll waiters on every replica wake at once
//
// Neither a state nor a code appears in a key, a value or a published
// message. The braces are a Cluster hash tag: a state's keys always live in
// one slot. Each operation is one Lua script, so one round trip (two on
// Cluster, where the pending count lives in another slot).
package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/seal"
	"github.com/oauth-callback-server/oauth-callback-server/internal/wakeup"
)

var (
	_ callback.Store    = (*Store)(nil)
	_ callback.Notifier = (*Store)(nil)
)

// registerScript registers a state unless it is registered, or has a
// callback stored or taken.
//
// KEYS: callback, tombstone, registration. ARGV: metadata, ttl seconds.
var registerScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('SET', KEYS[3], ARGV[1], 'NX', 'EX', ARGV[2]) then return 1 end
return 0
`)

// putScript stores the callback unless one is stored (SET NX) or was taken
// (tombstone), or registration is required and missing; counts it as
// pending and wakes the waiters, in one atomic step and one round trip.
// Atomicity matters: a callback arriving while another replica takes the
// first one can never slip in between GETDEL and the tombstone. A
// registration is kept as long as the callback, for its metadata.
// Returns 1 stored, 0 exists, 2 not registered.
//
// KEYS: callback, tombstone, registration, pending set (not on Cluster).
// ARGV: value, ttl seconds, expiry ms, name, now ms, channel, require registration.
var putScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local registered = redis.call('EXISTS', KEYS[3]) == 1
if ARGV[7] == '1' and not registered then
  if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
  return 2
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 0 end
if registered then redis.call('EXPIRE', KEYS[3], ARGV[2]) end
if #KEYS == 4 then
  redis.call('ZADD', KEYS[4], ARGV[3], ARGV[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[5])
end
redis.call('PUBLISH', ARGV[6], ARGV[4])
return 1
`)

// takeScript removes and returns the callback with GETDEL, and its
// registration, leaves a tombstone and uncounts it, in one atomic step.
// Returns {1, value, registration or false} when taken, {2} when taken
// before, {0} when there is nothing.
//
// KEYS: callback, tombstone, registration, pending set (not on Cluster).
// ARGV: ttl seconds, name.
var takeScript = redis.NewScript(`
local v = redis.call('GETDEL', KEYS[1])
if v then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[1])
  if #KEYS == 4 then redis.call('ZREM', KEYS[4], ARGV[2]) end
  local reg = redis.call('GETDEL', KEYS[3])
  return {1, v, reg}
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
	// Sealer encrypts values and names keys; default: seal.New(nil), no
	// server secret.
	Sealer *seal.Sealer
	// RequireRegistration makes Put refuse callbacks for states that were
	// not registered.
	RequireRegistration bool
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
	cluster bool
	// WAIT for replicas after a put
	minReplicas     int
	minReplicasWait time.Duration
	now             func() time.Time

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
	if opts.Sealer == nil {
		opts.Sealer = seal.New(nil)
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
		sealer:  opts.Sealer,
		require: opts.RequireRegistration,
		cluster: opts.Cluster,

		minReplicas:     opts.MinReplicas,
		minReplicasWait: opts.MinReplicasTimeout,
		now:             opts.Now,
		waiters:         wakeup.NewHub(),
	}
}

// Register implements callback.Store. A ttl of zero, or above the store's,
// is the store's TTL.
func (s *Store) Register(ctx context.Context, state string, ttl time.Duration, metadata json.RawMessage) error {
	if ttl <= 0 || ttl > s.ttl {
		ttl = s.ttl
	}
	k := s.keys(state)
	value, err := s.sealer.Seal(state, metadata, []byte(k.registration))
	if err != nil {
		return fmt.Errorf("seal registration: %w", err)
	}
	secs := max(int64(ttl/time.Second), 1)
	ok, err := registerScript.Run(ctx, s.client, []string{k.callback, k.tombstone, k.registration}, value, secs).Int()
	if err != nil {
		return unavailable("register state", err)
	}
	if ok == 0 {
		return callback.ErrExists
	}
	return nil
}

// Put implements callback.Store.
func (s *Store) Put(ctx context.Context, c callback.Callback) error {
	plain, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode callback: %w", err)
	}
	k := s.keys(c.State)
	value, err := s.sealer.Seal(c.State, plain, []byte(k.callback))
	if err != nil {
		return fmt.Errorf("seal callback: %w", err)
	}
	require := "0"
	if s.require {
		require = "1"
	}
	now := s.now()
	args := []any{value, s.ttlSecs, now.Add(s.ttl).UnixMilli(), k.name, now.UnixMilli(), s.storedChannel(), require}
	var res int
	if s.minReplicas > 0 {
		res, err = s.putAndWait(ctx, s.scriptKeys(k), args)
	} else {
		res, err = putScript.Run(ctx, s.client, s.scriptKeys(k), args...).Int()
	}
	if errors.Is(err, callback.ErrNotReplicated) {
		return err
	}
	if err != nil {
		return unavailable("store callback", err)
	}
	switch res {
	case 1:
		if s.cluster {
			// The callback is stored; if this fails, only the count misses
			// it until its score would have expired anyway.
			pipe := s.client.Pipeline()
			pipe.ZAdd(ctx, k.pending, redis.Z{Score: float64(now.Add(s.ttl).UnixMilli()), Member: k.name})
			pipe.ZRemRangeByScore(ctx, k.pending, "-inf", strconv.FormatInt(now.UnixMilli(), 10))
			_, _ = pipe.Exec(ctx)
		}
		return nil
	case 2:
		return callback.ErrNotRegistered
	default:
		return callback.ErrExists
	}
}

// putAndWait runs the put script and WAIT on one connection (a pipeline):
// WAIT counts the replicas that acknowledged the writes of its own
// connection.
func (s *Store) putAndWait(ctx context.Context, keys []string, args []any) (int, error) {
	run := func() (*redis.Cmd, *redis.Cmd, error) {
		pipe := s.client.Pipeline()
		put := pipe.EvalSha(ctx, putScript.Hash(), keys, args...)
		wait := pipe.Do(ctx, "WAIT", s.minReplicas, s.minReplicasWait.Milliseconds())
		_, err := pipe.Exec(ctx)
		return put, wait, err
	}
	put, wait, _ := run()
	if err := put.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Nothing ran: load the script and send the pair again.
		if err := putScript.Load(ctx, s.client).Err(); err != nil {
			return 0, err
		}
		put, wait, _ = run()
	}
	res, err := put.Int()
	if err != nil {
		return 0, err
	}
	if res != 1 {
		return res, nil // nothing was written: nothing to wait for
	}
	acked, err := wait.Int64()
	if err != nil {
		return 0, err
	}
	if acked < int64(s.minReplicas) {
		return 0, fmt.Errorf("%w: %d of %d", callback.ErrNotReplicated, acked, s.minReplicas)
	}
	return 1, nil
}

// Take implements callback.Store.
func (s *Store) Take(ctx context.Context, state string) (callback.Callback, error) {
	k := s.keys(state)
	res, err := takeScript.Run(ctx, s.client, s.scriptKeys(k), s.ttlSecs, k.name).Slice()
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
	sealed, ok := res[1].(string)
	if len(res) != 3 || !ok {
		return callback.Callback{}, fmt.Errorf("take callback: unexpected reply %v", res)
	}
	// Taken and unreadable (another server secret, corruption): the code
	// is gone either way; say so rather than pretend it never arrived.
	plain, err := s.sealer.Open(state, []byte(sealed), []byte(k.callback))
	if err != nil {
		return callback.Callback{}, fmt.Errorf("%w: %w", callback.ErrUnreadable, err)
	}
	var c callback.Callback
	if err := json.Unmarshal(plain, &c); err != nil {
		return callback.Callback{}, fmt.Errorf("%w: %w", callback.ErrUnreadable, err)
	}
	c.State = state
	if s.cluster {
		_ = s.client.ZRem(ctx, k.pending, k.name).Err() // as in Put: only the count is at stake
	}
	if reg, ok := res[2].(string); ok {
		metadata, err := s.sealer.Open(state, []byte(reg), []byte(k.registration))
		if err != nil {
			return callback.Callback{}, fmt.Errorf("%w: registration: %w", callback.ErrUnreadable, err)
		}
		if len(metadata) > 0 {
			c.Metadata = metadata
		}
	}
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
	return s.waiters.Subscribe(s.sealer.Name(state))
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

// stateKeys are one state's keys; all carry the same hash tag.
type stateKeys struct {
	name, callback, tombstone, registration, pending string
}

func (s *Store) keys(state string) stateKeys {
	n := s.sealer.Name(state)
	base := s.prefix + "{" + n + "}"
	return stateKeys{name: n, callback: base, tombstone: base + ":taken", registration: base + ":reg", pending: s.pendingKey()}
}

// scriptKeys are the KEYS of the put and take scripts. The pending set is a
// key of its own, in another slot than the callback on Redis Cluster, so
// there the scripts leave it out and Put and Take keep the count by
// separate commands.
func (s *Store) scriptKeys(k stateKeys) []string {
	if s.cluster {
		return []string{k.callback, k.tombstone, k.registration}
	}
	return []string{k.callback, k.tombstone, k.registration, k.pending}
}

func (s *Store) pendingKey() string    { return s.prefix + "pending" }
func (s *Store) storedChannel() string { return s.prefix + "stored" }

func unavailable(op string, err error) error {
	return fmt.Errorf("redis %s: %w: %w", op, callback.ErrUnavailable, err)
}
