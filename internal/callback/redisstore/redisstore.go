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
package redisstore

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
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

var (
	//go:embed scripts/accounting.lua
	accountingLua string
	//go:embed scripts/put.lua
	putLua string
	//go:embed scripts/take.lua
	takeLua string
	//go:embed scripts/register.lua
	registerLua string
	//go:embed scripts/cluster_admit.lua
	clusterAdmitLua string
	//go:embed scripts/cluster_release.lua
	clusterReleaseLua string
	//go:embed scripts/start.lua
	startLua string
	//go:embed scripts/status.lua
	statusLua string
	//go:embed scripts/cancel.lua
	cancelLua string

	registerScript       = redis.NewScript(accountingLua + registerLua)
	putScript            = redis.NewScript(accountingLua + putLua)
	takeScript           = redis.NewScript(accountingLua + takeLua)
	clusterAdmitScript   = redis.NewScript(accountingLua + clusterAdmitLua)
	clusterReleaseScript = redis.NewScript(accountingLua + clusterReleaseLua)
	startScript          = redis.NewScript(startLua)
	statusScript         = redis.NewScript(statusLua)
	cancelScript         = redis.NewScript(accountingLua + cancelLua)
	scripts              = []*redis.Script{registerScript, putScript, takeScript, clusterAdmitScript, clusterReleaseScript,
		startScript, statusScript, cancelScript}
)

// Results of put.lua.
const (
	putDuplicate         = 0
	putStored            = 1
	putNotRegistered     = 2
	putConflict          = 3
	putConflictAfterTake = 4
	putOverBudget        = 5
	putUnbound           = 6
	putCancelled         = 7
	putLinkExpired       = 8
)

// fingerprintLen is the length of callback.Fingerprint, the head of every
// stored value.
const fingerprintLen = 32

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
	// MaxBytes is the budget of callback and registration bytes this
	// deployment may keep in Redis (OAUTH_CALLBACK_MAX_MEMORY), counted by
	// the scripts that write and remove; 0: none. Its shares are
	// callback.RegistrationShare, UnregisteredShare and RegisteredShare.
	MaxBytes int64
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
	// byte budget; 0: none
	maxBytes, maxBytesUnregistered, maxBytesRegistrations int64
	accounting                                            []string // see accountingKeys
	channel                                               string   // see storedChannel
	cluster                                               bool
	// WAIT for replicas after a put
	minReplicas        int
	minReplicasTimeout time.Duration
	now                func() time.Time

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

		maxBytes:              opts.MaxBytes,
		maxBytesUnregistered:  int64(float64(opts.MaxBytes) * callback.UnregisteredShare),
		maxBytesRegistrations: int64(float64(opts.MaxBytes) * callback.RegistrationShare),
		accounting: []string{opts.Prefix + "{accounts}:pending", opts.Prefix + "{accounts}:sizes",
			opts.Prefix + "{accounts}:bytes", opts.Prefix + "{accounts}:bytes:unregistered",
			opts.Prefix + "{accounts}:bytes:registrations", opts.Prefix + "{accounts}:registrations"},
		channel: opts.Prefix + "stored",
		cluster: opts.Cluster,

		minReplicas:        opts.MinReplicas,
		minReplicasTimeout: opts.MinReplicasTimeout,
		now:                opts.Now,
		waiters:            wakeup.NewHub(),
	}
}

// Register implements callback.Store. A ttl of zero, or above the store's,
// is the store's TTL.
func (s *Store) Register(ctx context.Context, state string, reg callback.Registration) error {
	ttl := reg.TTL
	if ttl <= 0 || ttl > s.ttl {
		ttl = s.ttl
	}
	k := s.keys(state)
	aad := []byte(k.names[0].registration)
	var value []byte
	if reg.Link == nil {
		sealed, err := s.sealer.Seal(state, reg.Metadata, aad)
		if err != nil {
			return fmt.Errorf("seal registration: %w", err)
		}
		value = sealed
	} else {
		plain, err := json.Marshal(linkRegistration{Link: *reg.Link, Metadata: reg.Metadata})
		if err != nil {
			return fmt.Errorf("encode registration: %w", err)
		}
		sealed, err := s.sealer.Seal(state, plain, aad)
		if err != nil {
			return fmt.Errorf("seal registration: %w", err)
		}
		value = append([]byte(linkNotOpened), sealed...)
	}
	secs := max(int64(ttl/time.Second), 1)
	var linkKey string
	if reg.Link != nil {
		// The link's key first, in its own slot: it finds the state, sealed
		// under the link's ID, so that Redis sees neither.
		linkKey = s.linkKeys(reg.Link.ID)[0]
		sealedState, err := s.sealer.Seal(linkDomain+reg.Link.ID, []byte(state), []byte(linkKey))
		if err != nil {
			return fmt.Errorf("seal link: %w", err)
		}
		ok, err := s.client.SetNX(ctx, linkKey, sealedState, time.Duration(secs)*time.Second).Result()
		if err != nil {
			return storeError("register link", err)
		}
		if !ok {
			return callback.ErrExists
		}
	}
	var markerSecs int64 // 0: no sign-in link, no marker
	if reg.Link != nil {
		markerSecs = int64(callback.LinkMarkerTTL(time.Duration(secs)*time.Second, s.ttl) / time.Second)
	}
	err := s.register(ctx, k, value, secs, markerSecs, len(value)+len(linkKey))
	if err != nil && linkKey != "" {
		_ = s.client.Del(ctx, linkKey).Err()
	}
	return err
}

// register runs register.lua: the registration's size bytes are counted
// against the registrations' share of the budget, in the script, or on
// Cluster before it (the accounting keys live in another slot).
func (s *Store) register(ctx context.Context, k stateKeys, value []byte, secs, markerSecs int64, size int) error {
	now := s.now()
	expiry := now.Add(time.Duration(secs) * time.Second).UnixMilli()
	name := registrationName(k.names[0].name)
	if s.cluster {
		ok, err := clusterAdmitScript.Run(ctx, s.client, s.accountingKeys(), name, size, "g",
			s.maxBytes, s.maxBytesRegistrations, expiry, now.UnixMilli()).Int()
		if err != nil {
			return storeError("register state", err)
		}
		if ok == 0 {
			return fmt.Errorf("%w: the registrations' share of the byte budget is used", callback.ErrFull)
		}
	}
	res, err := registerScript.Run(ctx, s.client, s.scriptKeys(k), value, secs, markerSecs, len(k.names), k.names[0].name,
		size, s.maxBytes, s.maxBytesRegistrations, expiry, now.UnixMilli()).Int()
	if s.cluster && (err != nil || res != registerStored) {
		s.releaseOnCluster(ctx, name)
	}
	switch {
	case err != nil:
		return storeError("register state", err)
	case res == registerExists:
		return callback.ErrExists
	case res == registerOverBudget:
		return fmt.Errorf("%w: the registrations' share of the byte budget is used", callback.ErrFull)
	case res != registerStored:
		return fmt.Errorf("register state: unexpected reply %d", res)
	}
	return nil
}

// Results of register.lua.
const (
	registerExists     = 0
	registerStored     = 1
	registerOverBudget = 2
)

// registrationName is what a registration's bytes are counted under in the
// accounts, beside its callback's under name.
func registrationName(name string) string { return "g:" + name }

// releaseRegistrationOnCluster gives back a registration's bytes under
// any of the state's names (register.lua counts them under the first name
// of the replica that registered).
func (s *Store) releaseRegistrationOnCluster(ctx context.Context, k stateKeys) {
	for _, n := range k.names {
		s.releaseOnCluster(ctx, registrationName(n.name))
	}
}

// linkRegistration is what a registration with a sign-in link seals.
type linkRegistration struct {
	callback.Link
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// A registration with a sign-in link starts with linkNotOpened, which
// start.lua turns into linkOpened; the sealed link follows.
const (
	linkNotOpened = "Lr"
	linkOpened    = "Ls"
	// linkDomain keeps a link ID's names and keys apart from a state's.
	linkDomain = "sign-in-link\x00"
	// linkMarker, in a state's tombstone key, marks it registered with a
	// sign-in link, and outlives the registration by a TTL (register.lua).
	linkMarker = "l"
)

// linkKeys are the keys under which a link's state may be stored, one per
// secret (the current one first), in a slot of their own.
func (s *Store) linkKeys(id string) []string {
	tag := sha256.Sum256([]byte(linkDomain + id))
	base := s.prefix + "{" + hex.EncodeToString(tag[:2]) + "}:link:"
	var keys []string
	for _, n := range s.sealer.Names(linkDomain + id) {
		keys = append(keys, base+n)
	}
	return keys
}

// openRegistration reads a registration value stored under aad: the
// metadata, and the link if it has one.
func (s *Store) openRegistration(state, value string, aad string) (json.RawMessage, *callback.Link, error) {
	if !strings.HasPrefix(value, "L") {
		metadata, err := s.sealer.Open(state, []byte(value), []byte(aad))
		return metadata, nil, err
	}
	if len(value) < len(linkNotOpened) {
		return nil, nil, fmt.Errorf("registration: %d bytes", len(value))
	}
	plain, err := s.sealer.Open(state, []byte(value[len(linkNotOpened):]), []byte(aad))
	if err != nil {
		return nil, nil, err
	}
	var r linkRegistration
	if err := json.Unmarshal(plain, &r); err != nil {
		return nil, nil, err
	}
	return r.Metadata, &r.Link, nil
}

// Start implements callback.Store.
func (s *Store) Start(ctx context.Context, id string) (string, callback.Link, bool, error) {
	var state string
	for _, key := range s.linkKeys(id) {
		sealed, err := s.client.Get(ctx, key).Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return "", callback.Link{}, false, storeError("open link", err)
		}
		plain, err := s.sealer.Open(linkDomain+id, sealed, []byte(key))
		if err != nil {
			return "", callback.Link{}, false, fmt.Errorf("%w: link: %w", callback.ErrUnreadable, err)
		}
		state = string(plain)
		break
	}
	if state == "" {
		return "", callback.Link{}, false, callback.ErrNotFound
	}
	k := s.keys(state)
	res, err := startScript.Run(ctx, s.client, k.stateKeys(), len(k.names)).Slice()
	if err != nil {
		return "", callback.Link{}, false, storeError("open link", err)
	}
	if len(res) != 4 || res[0] != int64(1) {
		return "", callback.Link{}, false, callback.ErrNotFound
	}
	reg, _ := res[2].(string)
	at, _ := res[3].(int64)
	if at < 1 || int(at) > len(k.names) {
		return "", callback.Link{}, false, fmt.Errorf("open link: unexpected reply")
	}
	_, link, err := s.openRegistration(state, reg, k.names[at-1].registration)
	if err != nil || link == nil {
		return "", callback.Link{}, false, fmt.Errorf("%w: registration: %v", callback.ErrUnreadable, err)
	}
	link.ID = id
	return state, *link, res[1] == int64(1), nil
}

// Status implements callback.Store.
func (s *Store) Status(ctx context.Context, state string) (callback.Status, error) {
	k := s.keys(state)
	res, err := statusScript.Run(ctx, s.client, k.stateKeys(), len(k.names)).Slice()
	if err != nil {
		return callback.Status{}, storeError("read status", err)
	}
	progress, _ := res[0].(string)
	ms, _ := res[1].(int64)
	if len(res) != 2 || progress == "" {
		return callback.Status{}, fmt.Errorf("read status: unexpected reply %v", res)
	}
	st := callback.Status{Progress: callback.Progress(progress)}
	if st.Progress != callback.ProgressUnknown {
		st.ExpiresAt = s.now().Add(time.Duration(ms) * time.Millisecond)
	}
	return st, nil
}

// Cancel implements callback.Store.
func (s *Store) Cancel(ctx context.Context, state string) error {
	k := s.keys(state)
	args := []any{s.ttlSecs, s.storedChannel(), len(k.names)}
	for _, n := range k.names {
		args = append(args, n.name)
	}
	res, err := cancelScript.Run(ctx, s.client, s.scriptKeys(k), args...).Slice()
	if err != nil {
		return storeError("cancel", err)
	}
	if len(res) == 0 {
		return fmt.Errorf("cancel: empty reply")
	}
	switch res[0] {
	case int64(0):
		return callback.ErrNotFound
	case int64(2):
		return callback.ErrAlreadyTaken
	case int64(3):
		return callback.ErrConflict
	}
	if s.cluster {
		if released, ok := res[1].(string); ok {
			s.releaseOnCluster(ctx, released)
		}
		s.releaseRegistrationOnCluster(ctx, k)
	}
	return nil
}

// Put implements callback.Store.
func (s *Store) Put(ctx context.Context, c callback.Callback) (callback.Receipt, error) {
	plain, err := callback.Encode(c)
	if err != nil {
		return callback.Receipt{}, fmt.Errorf("encode callback: %w", err)
	}
	k := s.keys(c.State)
	sealed, err := s.sealer.Seal(c.State, plain, []byte(k.names[0].callback))
	if err != nil {
		return callback.Receipt{}, fmt.Errorf("seal callback: %w", err)
	}
	fingerprint := callback.Fingerprint(c)
	value := append([]byte(fingerprint), sealed...)
	require := "0"
	if s.require {
		require = "1"
	}
	now := s.now()
	expiry := now.Add(s.ttl).UnixMilli()
	size := len(value)
	bound := "0"
	if c.Bound {
		bound = "1"
	}
	args := []any{value, s.ttlSecs, expiry, now.UnixMilli(), s.storedChannel(), require, fingerprint,
		s.maxBytes, s.maxBytesUnregistered, size, len(k.names), bound}
	for _, n := range k.names {
		args = append(args, n.name)
	}
	if s.cluster {
		return s.putOnCluster(ctx, c.State, k, args, size, expiry, now)
	}
	var res []any
	if s.minReplicas > 0 {
		res, err = s.putAndWait(ctx, s.scriptKeys(k), args)
	} else {
		res, err = putScript.Run(ctx, s.client, s.scriptKeys(k), args...).Slice()
	}
	if errors.Is(err, callback.ErrNotReplicated) {
		return callback.Receipt{}, err
	}
	if err != nil {
		return callback.Receipt{}, storeError("store callback", err)
	}
	return s.putResult(c.State, k, res)
}

// putOnCluster admits the callback's bytes in the accounting slot, stores
// it in the state's slot, and releases what was not stored. A state that
// has an entry already is not admitted: the put refuses it anyway, and
// admitting its name twice would count it twice.
func (s *Store) putOnCluster(ctx context.Context, state string, k stateKeys, args []any, size int, expiry int64, now time.Time) (callback.Receipt, error) {
	pipe := s.client.Pipeline()
	callbacks := pipe.Exists(ctx, k.callbackKeys()...)
	tombstones := pipe.MGet(ctx, k.tombstoneKeys()...)
	registrations := pipe.Exists(ctx, k.registrationKeys()...)
	if _, err := pipe.Exec(ctx); err != nil {
		return callback.Receipt{}, storeError("store callback", err)
	}
	hasEntry := callbacks.Val() > 0
	for _, t := range tombstones.Val() {
		if t != nil && t != linkMarker { // a sign-in link's marker is no entry
			hasEntry = true
		}
	}
	admitted := false
	if !hasEntry {
		class, limit := "u", s.maxBytesUnregistered
		if registrations.Val() > 0 {
			class, limit = "r", int64(0)
		}
		ok, err := clusterAdmitScript.Run(ctx, s.client, s.accountingKeys(), k.names[0].name, size, class,
			s.maxBytes, limit, expiry, now.UnixMilli()).Int()
		if err != nil {
			return callback.Receipt{}, storeError("store callback", err)
		}
		if ok == 0 {
			return callback.Receipt{}, fmt.Errorf("%w: the byte budget of %d is used", callback.ErrFull, s.maxBytes)
		}
		admitted = true
	}
	res, err := putScript.Run(ctx, s.client, s.scriptKeys(k), args...).Slice()
	if err != nil {
		if admitted {
			s.releaseOnCluster(ctx, k.names[0].name)
		}
		return callback.Receipt{}, storeError("store callback", err)
	}
	receipt, err := s.putResult(state, k, res)
	if len(res) == 2 && res[0] == int64(putConflict) {
		if name, ok := res[1].(string); ok {
			s.releaseOnCluster(ctx, name) // the discarded callback's bytes
		}
	}
	if err == nil && receipt.Registered {
		s.releaseRegistrationOnCluster(ctx, k) // the callback took its bytes over
	}
	if !admitted {
		return receipt, err
	}
	switch {
	case err == nil && receipt.Registered == (registrations.Val() > 0):
	case err == nil:
		// The registration expired between the look and the put: count the
		// bytes as unregistered now.
		s.releaseOnCluster(ctx, k.names[0].name)
		_ = clusterAdmitScript.Run(ctx, s.client, s.accountingKeys(), k.names[0].name, size, "u", 0, 0, expiry, now.UnixMilli()).Err()
	default:
		s.releaseOnCluster(ctx, k.names[0].name)
	}
	return receipt, err
}

// releaseOnCluster gives back a name's bytes. If it fails, only the budget
// is off, until the entry's expiry score releases them anyway.
func (s *Store) releaseOnCluster(ctx context.Context, name string) {
	_ = clusterReleaseScript.Run(ctx, s.client, s.accountingKeys(), name).Err()
}

// putResult reads put.lua's reply: for a stored callback, whether the
// state was registered, and its sign-in link's return URL.
func (s *Store) putResult(state string, k stateKeys, res []any) (callback.Receipt, error) {
	if len(res) == 0 {
		return callback.Receipt{}, fmt.Errorf("store callback: empty reply")
	}
	switch res[0] {
	case int64(putStored):
		receipt := callback.Receipt{Registered: len(res) >= 2 && res[1] == int64(1)}
		if len(res) == 4 {
			reg, _ := res[2].(string)
			at, _ := res[3].(int64)
			if at < 1 || int(at) > len(k.names) {
				return callback.Receipt{}, fmt.Errorf("store callback: unexpected reply")
			}
			// Stored already: an unreadable link only loses the way back.
			if _, link, err := s.openRegistration(state, reg, k.names[at-1].registration); err == nil && link != nil {
				receipt.ReturnURL = link.ReturnURL
			}
		}
		return receipt, nil
	case int64(putDuplicate):
		return callback.Receipt{}, callback.ErrExists
	case int64(putNotRegistered):
		return callback.Receipt{}, callback.ErrNotRegistered
	case int64(putConflict):
		return callback.Receipt{}, callback.ErrConflict
	case int64(putConflictAfterTake):
		return callback.Receipt{}, callback.ErrConflictAfterTake
	case int64(putOverBudget):
		return callback.Receipt{}, fmt.Errorf("%w: the byte budget is used", callback.ErrFull)
	case int64(putUnbound):
		return callback.Receipt{}, callback.ErrUnbound
	case int64(putCancelled):
		return callback.Receipt{}, callback.ErrCancelled
	case int64(putLinkExpired):
		return callback.Receipt{}, callback.ErrLinkExpired
	}
	return callback.Receipt{}, fmt.Errorf("store callback: unexpected reply %v", res)
}

// putAndWait runs the put script and WAIT on one connection (a pipeline):
// WAIT counts the replicas that acknowledged the writes of its own
// connection.
func (s *Store) putAndWait(ctx context.Context, keys []string, args []any) ([]any, error) {
	run := func() (*redis.Cmd, *redis.Cmd, error) {
		pipe := s.client.Pipeline()
		put := pipe.EvalSha(ctx, putScript.Hash(), keys, args...)
		wait := pipe.Do(ctx, "WAIT", s.minReplicas, s.minReplicasTimeout.Milliseconds())
		_, err := pipe.Exec(ctx)
		return put, wait, err
	}
	put, wait, _ := run()
	if err := put.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Nothing ran: load the script and send the pair again.
		if err := putScript.Load(ctx, s.client).Err(); err != nil {
			return nil, err
		}
		put, wait, _ = run()
	}
	res, err := put.Slice()
	if err != nil {
		return nil, err
	}
	if len(res) == 0 || res[0] != int64(putStored) {
		return res, nil // nothing was written: nothing to wait for
	}
	acked, err := wait.Int64()
	if err != nil {
		return nil, err
	}
	if acked < int64(s.minReplicas) {
		return nil, fmt.Errorf("%w: %d of %d", callback.ErrNotReplicated, acked, s.minReplicas)
	}
	return res, nil
}

// Take implements callback.Store.
func (s *Store) Take(ctx context.Context, state string) (callback.Callback, error) {
	k := s.keys(state)
	args := []any{s.ttlSecs, len(k.names)}
	for _, n := range k.names {
		args = append(args, n.name)
	}
	res, err := takeScript.Run(ctx, s.client, s.scriptKeys(k), args...).Slice()
	if err != nil {
		return callback.Callback{}, storeError("take callback", err)
	}
	if len(res) == 0 {
		return callback.Callback{}, fmt.Errorf("take callback: empty reply")
	}
	switch res[0] {
	case int64(0):
		return callback.Callback{}, callback.ErrNotFound
	case int64(2):
		return callback.Callback{}, callback.ErrAlreadyTaken
	case int64(3):
		return callback.Callback{}, callback.ErrConflict
	case int64(4):
		return callback.Callback{}, callback.ErrCancelled
	case int64(5):
		return callback.Callback{}, callback.ErrLinkExpired
	}
	value, ok := res[1].(string)
	at, ok2 := res[2].(int64)
	if len(res) != 5 || !ok || !ok2 || at < 1 || int(at) > len(k.names) || len(value) < fingerprintLen {
		return callback.Callback{}, fmt.Errorf("take callback: unexpected reply")
	}
	found := k.names[at-1]
	if s.cluster {
		s.releaseOnCluster(ctx, found.name)
		s.releaseRegistrationOnCluster(ctx, k)
	}
	// Taken and unreadable (another server secret, corruption): the code
	// is gone either way; say so rather than pretend it never arrived.
	plain, err := s.sealer.Open(state, []byte(value[fingerprintLen:]), []byte(found.callback))
	if err != nil {
		return callback.Callback{}, fmt.Errorf("%w: %w", callback.ErrUnreadable, err)
	}
	var c callback.Callback
	if err := json.Unmarshal(plain, &c); err != nil {
		return callback.Callback{}, fmt.Errorf("%w: %w", callback.ErrUnreadable, err)
	}
	c.State = state
	if reg, ok := res[3].(string); ok {
		regAt, _ := res[4].(int64)
		if regAt < 1 || int(regAt) > len(k.names) {
			return callback.Callback{}, fmt.Errorf("take callback: unexpected reply")
		}
		metadata, _, err := s.openRegistration(state, reg, k.names[regAt-1].registration)
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

// Subscribe implements callback.Notifier.
func (s *Store) Subscribe(state string) (<-chan struct{}, func()) {
	s.subOnce.Do(s.startSubscriber)
	// Writers publish every name they know the state by; a waiter's
	// first name is among them, whatever order the two hold their keys in.
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

// stateKeys are one state's keys under each of its names (the current
// secret's first); all carry the same hash tag.
type stateKeys struct {
	names   []nameKeys
	pending string
}

type nameKeys struct {
	name, callback, tombstone, registration string
}

func (s *Store) keys(state string) stateKeys {
	tag := sha256.Sum256([]byte(state))
	base := s.prefix + "{" + hex.EncodeToString(tag[:2]) + "}:"
	k := stateKeys{pending: s.pendingKey()}
	for _, n := range s.sealer.Names(state) {
		k.names = append(k.names, nameKeys{name: n, callback: base + n, tombstone: base + n + ":taken", registration: base + n + ":reg"})
	}
	return k
}

// stateKeys are the keys of the state's slot: per name, its callback,
// tombstone and registration.
func (k stateKeys) stateKeys() []string {
	keys := make([]string, 0, 3*len(k.names)+4)
	for _, n := range k.names {
		keys = append(keys, n.callback, n.tombstone, n.registration)
	}
	return keys
}

func (k stateKeys) callbackKeys() []string {
	var keys []string
	for _, n := range k.names {
		keys = append(keys, n.callback)
	}
	return keys
}

func (k stateKeys) tombstoneKeys() []string {
	var keys []string
	for _, n := range k.names {
		keys = append(keys, n.tombstone)
	}
	return keys
}

func (k stateKeys) registrationKeys() []string {
	var keys []string
	for _, n := range k.names {
		keys = append(keys, n.registration)
	}
	return keys
}

// scriptKeys are the KEYS of the put and take scripts: the state's, then
// the accounting keys. Those live in their own slot, so on Redis Cluster
// the scripts leave them out, and Put and Take keep the accounts by
// separate scripts.
func (s *Store) scriptKeys(k stateKeys) []string {
	keys := k.stateKeys()
	if s.cluster {
		return keys
	}
	return append(keys, s.accounting...)
}

// accountingKeys are the pending set and the byte budget's keys, in the
// order accounting.lua expects. Their hash tag keeps them in one Cluster
// slot, so one script can keep them together. Built once: every request
// passes them.
func (s *Store) accountingKeys() []string { return s.accounting }

func (s *Store) pendingKey() string    { return s.accounting[0] }
func (s *Store) storedChannel() string { return s.channel }

// storeError maps a Redis error: out of memory (maxmemory with
// noeviction) is a full store, a 503 that asks to come back later, like
// the budget; anything else means Redis cannot serve.
func storeError(op string, err error) error {
	if isOutOfMemory(err) {
		return fmt.Errorf("redis %s: %w: %w", op, callback.ErrFull, err)
	}
	return fmt.Errorf("redis %s: %w: %w", op, callback.ErrUnavailable, err)
}

// isOutOfMemory: Redis answers OOM to a write past maxmemory, also from
// inside a script.
func isOutOfMemory(err error) bool {
	return redis.HasErrorPrefix(err, "OOM") || strings.Contains(err.Error(), "OOM command not allowed")
}
