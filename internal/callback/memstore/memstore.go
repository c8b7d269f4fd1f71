// Package memstore is the embedded, in-process callback.Store: the default
// when no Redis is configured. It serves exactly one replica.
package memstore

import (
	"container/heap"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/wakeup"
)

var (
	_ callback.Store    = (*Store)(nil)
	_ callback.Notifier = (*Store)(nil)
)

// Store keeps callbacks in a map guarded by one mutex. Callbacks and
// tombstones all live for the same TTL, so they expire in the order they
// were written: two FIFO queues make their expiry O(1) amortised, with no
// scan of the map. Registrations choose their own TTL and expire through a
// heap.
//
// Memory is bounded twice: by entries, and by bytes (each entry's encoded
// size plus a fixed overhead). A share of the bytes is kept for registered
// states, so that made-up states cannot block the sign-ins an MCP server
// announced.
type Store struct {
	store callback.StoreConfig // MaxBytes 0: no byte bound
	cfg   Config
	// entryFloor is the least an entry counts against the byte budget,
	// MaxBytes / MaxEntries rounded up: the budget's shares then bound the
	// entries too, and a flood of small entries fills only its own share.
	entryFloor int64

	mu            sync.Mutex
	records       map[string]*record
	pending       queue // callbacks not yet taken, oldest first
	tombstones    queue // taken or conflicted states, oldest first
	registrations expiryHeap
	links         map[string]string // sign-in link ID -> state
	nPending      int64
	bytes         int64 // counted against maxBytes
	bytesUnreg    int64 // the part of bytes held by callbacks of unregistered states
	bytesReg      int64 // the part of bytes held by registrations
	// appBytes and appRegBytes are what each app with a share of its own
	// (StoreConfig.AppShares) holds: its sign-ins, and of them its
	// registrations.
	appBytes, appRegBytes map[string]int64

	// epoch is the moment instants count from (New's time.Now).
	epoch time.Time

	waiters   *wakeup.Hub
	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
}

// phase is a record's callback.Phase in one byte (phases[p]): every
// record carries one.
type phase uint8

const (
	registered phase = iota
	started
	pending // callback.PhaseReceived
	taken
	conflicted
	cancelled
	// linkExpired: the state's sign-in link ended (its registration, or its
	// callback, expired untaken). For a TTL more it refuses unbound
	// callbacks, so that a forwarded authorization URL never succeeds
	// after the link is gone, and answers takes with ErrLinkExpired.
	linkExpired
)

var phases = [...]callback.Phase{
	registered:  callback.PhaseRegistered,
	started:     callback.PhaseStarted,
	pending:     callback.PhaseReceived,
	taken:       callback.PhaseTaken,
	conflicted:  callback.PhaseConflict,
	cancelled:   callback.PhaseCancelled,
	linkExpired: callback.PhaseExpired,
}

func (p phase) Phase() callback.Phase { return phases[p] }

func phaseOf(p callback.Phase) phase {
	for i, q := range phases {
		if q == p {
			return phase(i)
		}
	}
	panic("memstore: no record for phase " + string(p))
}

// phaseOfRecord is r's phase, callback.PhaseUnknown for none.
func phaseOfRecord(r *record) callback.Phase {
	if r == nil {
		return callback.PhaseUnknown
	}
	return r.phase.Phase()
}

// instant is a moment as the time since the store's epoch, read from the
// monotonic clock: 8 bytes where a time.Time takes 24, in every record and
// queue item.
type instant time.Duration

func (s *Store) now() instant { return instant(time.Since(s.epoch)) }

func (i instant) Add(d time.Duration) instant { return i + instant(d) }
func (i instant) Before(j instant) bool       { return i < j }

// record is one state's entry. A callback is kept encoded: one string
// instead of a struct, its strings and a params map, which keeps a pending
// callback to a few hundred bytes (see docs/benchmarks.md).
//
// Most records are callbacks nobody registered: what only a registration
// has lives behind reg, so that they do not carry it (80 bytes a record,
// from 152, then 64 with expires an instant; BenchmarkHeapPerPending).
type record struct {
	phase       phase
	class       byteClass   // which share of the budget size counts against too
	registered  bool        // the state was registered before its callback
	fingerprint fingerprint // pending and taken: callback.Fingerprint
	value       string      // pending: the callback, encoded
	expires     instant
	size        int64         // what the record counts against maxBytes
	reg         *registration // nil: the state was never registered
}

// registration is what Register gave a record.
type registration struct {
	owner    string         // the app that registered the state ("" : none); kept while the record lives
	metadata string         // returned with the callback
	issuer   string         // a callback's iss must match it
	link     *callback.Link // the sign-in link, kept while the record lives: callbacks must be bound
}

func (r *record) owner() string {
	if r.reg == nil {
		return ""
	}
	return r.reg.owner
}

func (r *record) metadata() string {
	if r.reg == nil {
		return ""
	}
	return r.reg.metadata
}

func (r *record) issuer() string {
	if r.reg == nil {
		return ""
	}
	return r.reg.issuer
}

func (r *record) link() *callback.Link {
	if r.reg == nil {
		return nil
	}
	return r.reg.link
}

// dropRegistrationData forgets what a handed-out or discarded callback no
// longer needs; the owner and the link stay while the record lives.
func (r *record) dropRegistrationData() {
	if r.reg != nil {
		r.reg.metadata, r.reg.issuer = "", ""
	}
}

// fingerprint is callback.Fingerprint's 32 hex digits as their 16 bytes.
type fingerprint [16]byte

func fingerprintOf(c callback.Callback) fingerprint {
	var fp fingerprint
	_, _ = hex.Decode(fp[:], []byte(callback.Fingerprint(c))) // always 32 hex digits
	return fp
}

// byteClass is which share of the budget an entry's bytes count against,
// beside the whole (callback.RegisteredShare and the others).
type byteClass uint8

const (
	classRegistered   byteClass = iota // a callback of a registered state: the whole budget only
	classUnregistered                  // a callback of an unregistered state
	classRegistration                  // a registration, until its callback takes its bytes over
)

// recordOverhead is what an entry costs beyond its strings: the map slot,
// the record, a queue item. Measured once: 100 000 pending callbacks with
// 38-byte states and 66-byte values took 320 bytes of heap each, 136 of
// them their strings; rounded up. The record has shrunk since (64 bytes):
// the budget now counts a little more than the heap holds, never less.
const recordOverhead = 192

// Config is what the memory store has beyond callback.StoreConfig.
type Config struct {
	// MaxEntries bounds registrations, pending callbacks and tombstones
	// together, since all use memory (OAUTH_CALLBACK_MAX_ENTRIES); 0: no
	// bound.
	MaxEntries int
	// SweepInterval is how often expired entries are removed in the
	// background; zero is once a second. Negative: no background sweep
	// (the next operation removes them).
	SweepInterval time.Duration
}

// DefaultConfig is the memory store's configuration when nobody sets one.
func DefaultConfig() Config { return Config{MaxEntries: 100_000, SweepInterval: time.Second} }

// New returns a Store. Close stops its background sweep. A zero TTL is
// callback.DefaultTTL.
func New(store callback.StoreConfig, cfg Config) *Store {
	store = store.WithDefaults()
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = math.MaxInt
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = DefaultConfig().SweepInterval
	}
	s := &Store{
		store:      store,
		cfg:        cfg,
		entryFloor: entryFloor(store.MaxBytes, cfg.MaxEntries),
		records:    make(map[string]*record),
		links:      make(map[string]string),
		appBytes:   make(map[string]int64), appRegBytes: make(map[string]int64),
		epoch:   time.Now(),
		waiters: wakeup.NewHub(),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go s.sweepLoop()
	return s
}

// entryFloor is maxBytes / maxEntries rounded up, so that no more than
// maxEntries entries fit maxBytes; 0 without a budget (the entries are
// then bounded by themselves).
func entryFloor(maxBytes int64, maxEntries int) int64 {
	if maxBytes <= 0 || maxEntries <= 0 || maxEntries == math.MaxInt {
		return 0
	}
	return (maxBytes + int64(maxEntries) - 1) / int64(maxEntries)
}

// Register implements callback.Store.
func (s *Store) Register(_ context.Context, app callback.App, state string, reg callback.Registration) error {
	if err := app.Check(); err != nil {
		return err
	}
	ttl := reg.TTL
	if ttl <= 0 || ttl > s.store.TTL {
		ttl = s.store.TTL
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expireLocked(now)
	if step := callback.Next(phaseOfRecord(s.records[state]), callback.EventRegister); step.Err != nil {
		return step.Err
	}
	size := int64(len(state) + len(reg.Metadata) + len(reg.Issuer) + recordOverhead)
	var link *callback.Link
	if reg.Link != nil {
		if _, used := s.links[reg.Link.ID]; used {
			return callback.ErrExists
		}
		l := *reg.Link
		link = &l
		size += int64(len(l.ID) + len(l.AuthorizationURL) + len(l.ReturnURL))
	}
	owner := app.Owner()
	if err := s.roomLocked(size, 0, classRegistration, owner, true); err != nil {
		return err
	}
	state = strings.Clone(state)
	r := &record{phase: registered, expires: now.Add(ttl),
		reg: &registration{owner: owner, metadata: string(reg.Metadata), issuer: reg.Issuer, link: link}}
	s.records[state] = r
	if link != nil {
		s.links[link.ID] = state
	}
	s.resizeLocked(r, size, classRegistration)
	heap.Push(&s.registrations, queueItem{state: state, expires: r.expires})
	return nil
}

// Start implements callback.Store.
func (s *Store) Start(_ context.Context, id string) (string, callback.Link, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(s.now())
	state, ok := s.links[id]
	if !ok {
		return "", callback.Link{}, false, callback.ErrNotFound
	}
	r := s.records[state]
	if r == nil || r.link() == nil || r.link().ID != id {
		return "", callback.Link{}, false, callback.ErrNotFound
	}
	step := callback.Next(r.phase.Phase(), callback.EventOpen)
	if step.Err != nil {
		return "", callback.Link{}, false, step.Err
	}
	first := r.phase == registered
	r.phase = phaseOf(step.Next)
	return state, *r.link(), first, nil
}

// Put implements callback.Store.
func (s *Store) Put(_ context.Context, c callback.Callback) (callback.Receipt, error) {
	receipt, err := s.put(c)
	if err == nil || errors.Is(err, callback.ErrConflict) {
		// A conflict is news for a waiter too: its take now says so.
		s.waiters.Notify(c.State)
	}
	return receipt, err
}

// Subscribe implements callback.Notifier: Put wakes the waiters directly.
// The subscription is active at once, which its first wake-up says.
func (s *Store) Subscribe(state string) (<-chan struct{}, func()) {
	wake, cancel := s.waiters.Subscribe(state)
	s.waiters.Notify(state)
	return wake, cancel
}

func (s *Store) put(c callback.Callback) (callback.Receipt, error) {
	// Encoded before taking the lock, and a copy: nothing the caller keeps,
	// like the request's query string, stays alive with the entry.
	encoded, err := callback.Encode(c)
	if err != nil {
		return callback.Receipt{}, fmt.Errorf("encode callback: %w", err)
	}
	fingerprint := fingerprintOf(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expireLocked(now)
	r := s.records[c.State]
	if err := s.refuseLocked(c, r); err != nil {
		return callback.Receipt{}, err
	}
	event := callback.EventCallback
	if r != nil && (r.phase == pending || r.phase == taken) && r.fingerprint == fingerprint {
		event = callback.EventSameCallback
	}
	step := callback.Next(phaseOfRecord(r), event)
	if step.Next == callback.PhaseConflict {
		s.conflictLocked(c.State, r, now)
	}
	if step.Err != nil || step.Next != callback.PhaseReceived {
		return receiptOf(r), step.Err
	}
	// A first callback: the registration, if any, becomes it, keeping its
	// metadata, and its bytes pass to it.
	size := int64(len(c.State) + len(encoded) + len(fingerprint) + recordOverhead)
	class, owner := classUnregistered, ""
	if r != nil {
		size += int64(len(r.metadata()) + len(r.issuer()))
		class, owner = classRegistered, r.owner()
	}
	if err := s.roomLocked(size, s.sizeOf(r), class, owner, r == nil); err != nil {
		return callback.Receipt{}, err
	}
	state := strings.Clone(c.State) // one copy, shared by the map and the queue
	if r == nil {
		r = &record{}
		s.records[state] = r
	}
	r.phase, r.registered, r.value, r.fingerprint, r.expires = pending, r.reg != nil, string(encoded), fingerprint, now.Add(s.store.TTL)
	s.resizeLocked(r, size, class)
	s.pending.push(state, r.expires)
	s.nPending++
	return receiptOf(r), nil
}

// refuseLocked applies the guards a callback meets before the table
// (callback.Guard).
func (s *Store) refuseLocked(c callback.Callback, r *record) error {
	facts := callback.CallbackFacts{Bound: c.Bound, RequireRegistration: s.store.RequireRegistration}
	if r != nil {
		facts.HasLink = r.link() != nil
		facts.IssuerMismatch = r.issuer() != "" && c.Iss != "" && c.Iss != r.issuer()
	}
	return callback.Guard(phaseOfRecord(r), facts)
}

func receiptOf(r *record) callback.Receipt {
	if r == nil {
		return callback.Receipt{}
	}
	receipt := callback.Receipt{Registered: r.registered}
	if l := r.link(); l != nil {
		receipt.ReturnURL = l.ReturnURL
	}
	return receipt
}

// conflictLocked makes r's state conflicted: neither callback may be
// handed out, and the record becomes a tombstone for a TTL.
func (s *Store) conflictLocked(state string, r *record, now instant) {
	r.phase, r.value, r.fingerprint, r.expires = conflicted, "", fingerprint{}, now.Add(s.store.TTL)
	r.dropRegistrationData()
	s.resizeLocked(r, int64(len(state)+recordOverhead), r.class)
	s.tombstones.push(state, r.expires)
	s.nPending--
}

// roomLocked reports whether an entry that counts size bytes, where it
// counted before bytes, fits: the budget, the share of its class, and the
// share of the app it is charged to (owner); with no budget, the entries.
// The first part it does not fit is the error's.
func (s *Store) roomLocked(size, before int64, class byteClass, owner string, newEntry bool) error {
	if s.store.MaxBytes <= 0 {
		if newEntry && len(s.records) >= s.cfg.MaxEntries {
			return &callback.FullError{Part: callback.PartEntries, Held: int64(len(s.records)), Limit: int64(s.cfg.MaxEntries)}
		}
		return nil
	}
	grow := s.charge(size) - before
	if grow <= 0 {
		return nil
	}
	full := func(part callback.Part, held, limit int64) error {
		err := &callback.FullError{Part: part, Held: held, Limit: limit}
		if part == callback.PartApp || part == callback.PartAppRegistrations {
			err.App = owner
		}
		if size < s.entryFloor {
			err.EntryFloor = s.entryFloor
		}
		return err
	}
	if total, registrations, ok := s.store.AppBudget(owner); ok && class != classUnregistered {
		if s.appBytes[owner]+grow > total {
			return full(callback.PartApp, s.appBytes[owner], total)
		}
		if class == classRegistration && s.appRegBytes[owner]+grow > registrations {
			return full(callback.PartAppRegistrations, s.appRegBytes[owner], registrations)
		}
	}
	if limit := int64(float64(s.store.MaxBytes) * callback.UnregisteredShare); class == classUnregistered && s.bytesUnreg+grow > limit {
		return full(callback.PartUnregistered, s.bytesUnreg, limit)
	}
	if limit := int64(float64(s.store.MaxBytes) * callback.RegistrationShare); class == classRegistration && s.bytesReg+grow > limit {
		return full(callback.PartRegistrations, s.bytesReg, limit)
	}
	if s.bytes+grow > s.store.MaxBytes {
		return full(callback.PartBudget, s.bytes, s.store.MaxBytes)
	}
	return nil
}

// charge is what an entry of size bytes counts against the budget: at
// least entryFloor, so that the budget bounds the entries too, share by
// share (MaxBytes / entryFloor is MaxEntries at most).
func (s *Store) charge(size int64) int64 { return max(size, s.entryFloor) }

// resizeLocked sets what r counts against the budget, and in which class;
// and against its owner's share, for an app that has one.
func (s *Store) resizeLocked(r *record, size int64, class byteClass) {
	if size > 0 {
		size = s.charge(size)
	}
	s.bytes += size - r.size
	if n := s.classBytes(r.class); n != nil {
		*n -= r.size
	}
	if n := s.classBytes(class); n != nil {
		*n += size
	}
	if owner := r.owner(); owner != "" {
		if _, _, ok := s.store.AppBudget(owner); ok {
			s.chargeLocked(owner, r.class, -r.size)
			s.chargeLocked(owner, class, size)
		}
	}
	r.size, r.class = size, class
}

// chargeLocked counts n bytes of class against app's share: the callbacks
// of unregistered states are no app's.
func (s *Store) chargeLocked(app string, class byteClass, n int64) {
	if class == classUnregistered {
		return
	}
	s.appBytes[app] += n
	if class == classRegistration {
		s.appRegBytes[app] += n
	}
}

// classBytes is the counter of a class's share; nil for callbacks of
// registered states, which have no share but the whole.
func (s *Store) classBytes(class byteClass) *int64 {
	switch class {
	case classUnregistered:
		return &s.bytesUnreg
	case classRegistration:
		return &s.bytesReg
	}
	return nil
}

func (s *Store) sizeOf(r *record) int64 {
	if r == nil {
		return 0
	}
	return r.size
}

// Take implements callback.Store.
func (s *Store) Take(_ context.Context, app callback.App, state string) (callback.Callback, error) {
	if err := app.Check(); err != nil {
		return callback.Callback{}, err
	}
	value, metadata, issuer, err := s.take(state, app)
	if err != nil {
		return callback.Callback{}, err
	}
	// Decoded outside the lock.
	var c callback.Callback
	if err := json.Unmarshal([]byte(value), &c); err != nil {
		return callback.Callback{}, fmt.Errorf("%w: %w", callback.ErrUnreadable, err)
	}
	c.State, c.Issuer = state, issuer
	if metadata != "" {
		c.Metadata = json.RawMessage(metadata)
	}
	return c, nil
}

func (s *Store) take(state string, app callback.App) (value, metadata, issuer string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expireLocked(now)
	r := s.recordFor(state, app)
	if step := callback.Next(phaseOfRecord(r), callback.EventTake); step.Err != nil {
		return "", "", "", step.Err
	}
	value, metadata, issuer = r.value, r.metadata(), r.issuer()
	// The record stays as a tombstone, with the callback's fingerprint, so
	// that a second take answers "already retrieved" and a second callback
	// cannot replace this one.
	r.phase, r.value, r.expires = taken, "", now.Add(s.store.TTL)
	r.dropRegistrationData()
	s.resizeLocked(r, int64(len(state)+len(r.fingerprint)+recordOverhead), r.class)
	s.tombstones.push(state, r.expires)
	s.nPending--
	return value, metadata, issuer, nil
}

// recordFor is the state's record as app sees it: none when another app
// registered the state.
func (s *Store) recordFor(state string, app callback.App) *record {
	r := s.records[state]
	if r == nil || !app.Sees(r.owner()) {
		return nil
	}
	return r
}

// Status implements callback.Store.
func (s *Store) Status(_ context.Context, app callback.App, state string) (callback.Status, error) {
	if err := app.Check(); err != nil {
		return callback.Status{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(s.now())
	r := s.recordFor(state, app)
	if r == nil {
		return callback.Status{Phase: callback.PhaseUnknown}, nil
	}
	return callback.Status{Phase: r.phase.Phase(), ExpiresAt: s.epoch.Add(time.Duration(r.expires))}, nil
}

// Cancel implements callback.Store.
func (s *Store) Cancel(_ context.Context, app callback.App, state string) error {
	if err := app.Check(); err != nil {
		return err
	}
	err := s.cancel(state, app)
	if err == nil {
		// A waiter's take now answers "cancelled".
		s.waiters.Notify(state)
	}
	return err
}

func (s *Store) cancel(state string, app callback.App) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expireLocked(now)
	r := s.recordFor(state, app)
	step := callback.Next(phaseOfRecord(r), callback.EventCancel)
	if step.Err != nil || r.phase == cancelled {
		return step.Err
	}
	if r.phase == pending {
		s.nPending--
	}
	r.phase, r.value, r.fingerprint, r.expires = cancelled, "", fingerprint{}, now.Add(s.store.TTL)
	r.dropRegistrationData()
	s.resizeLocked(r, int64(len(state)+recordOverhead), r.class)
	s.tombstones.push(state, r.expires)
	return nil
}

// Pending implements callback.Store.
func (s *Store) Pending(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(s.now())
	return s.nPending, nil
}

// Ping implements callback.Store; memory is always reachable.
func (s *Store) Ping(context.Context) error { return nil }

// Close stops the background sweep. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

func (s *Store) sweepLoop() {
	defer close(s.done)
	if s.cfg.SweepInterval <= 0 {
		<-s.stop
		return
	}
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			s.expireLocked(s.now())
			s.mu.Unlock()
		}
	}
}

// expireLocked applies callback.EventLapse to every entry whose time has
// come. Each queue is in expiry order, so it stops at the first entry
// still alive. An item is stale when its record changed since (taken,
// conflicted, or registered then stored): the record then has another
// phase or expiry, and is left alone.
func (s *Store) expireLocked(now instant) {
	expire := func(item queueItem, phases ...phase) {
		r, ok := s.records[item.state]
		if !ok || !slices.Contains(phases, r.phase) || r.expires != item.expires {
			return
		}
		if r.phase == pending {
			s.nPending--
		}
		l := r.link()
		if l != nil {
			delete(s.links, l.ID)
		}
		if callback.LapseOf(r.phase.Phase(), l != nil) == callback.PhaseExpired {
			// The link ended untaken: it leaves its phase behind for a TTL.
			r.phase, r.value, r.fingerprint = linkExpired, "", fingerprint{}
			r.reg.link = nil // the phase says it all now
			r.dropRegistrationData()
			r.expires = now.Add(s.store.TTL)
			s.resizeLocked(r, int64(len(item.state)+recordOverhead), r.class)
			s.tombstones.push(item.state, r.expires)
			return
		}
		delete(s.records, item.state)
		s.resizeLocked(r, 0, r.class)
	}
	for item, ok := s.pending.peek(); ok && !now.Before(item.expires); item, ok = s.pending.peek() {
		s.pending.pop()
		expire(item, pending)
	}
	for item, ok := s.tombstones.peek(); ok && !now.Before(item.expires); item, ok = s.tombstones.peek() {
		s.tombstones.pop()
		expire(item, taken, conflicted, cancelled, linkExpired)
	}
	for len(s.registrations) > 0 && !now.Before(s.registrations[0].expires) {
		expire(heap.Pop(&s.registrations).(queueItem), registered, started)
	}
}
