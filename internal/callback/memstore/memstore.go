// Package memstore is the embedded, in-process callback.Store: the default
// when no Redis is configured. It serves exactly one replica.
package memstore

import (
	"context"
	"encoding/json"
	"fmt"
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

// Store keeps callbacks in a map guarded by one mutex. Every entry lives for
// the same TTL, so entries expire in the order they were written: two FIFO
// queues (pending callbacks, tombstones of taken ones) make expiry O(1)
// amortised, with no scan of the map.
type Store struct {
	ttl        time.Duration
	maxEntries int
	now        func() time.Time

	mu         sync.Mutex
	records    map[string]*record
	pending    queue // callbacks not yet taken, oldest first
	tombstones queue // taken callbacks, oldest first
	nPending   int64

	waiters       *wakeup.Hub
	sweepInterval time.Duration
	closeOnce     sync.Once
	stop          chan struct{}
	done          chan struct{}
}

// record is one state's entry. The callback is kept JSON-encoded: one
// string instead of a struct, its strings and a params map, which keeps a
// pending callback to a few hundred bytes (see docs/benchmarks.md).
type record struct {
	value   string // empty once taken
	taken   bool
	expires time.Time
}

// Option changes a Store's defaults.
type Option func(*Store)

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithSweepInterval sets how often expired entries are removed in the
// background (default one second). Zero disables the background sweep:
// expired entries are then removed by the next operation that runs.
func WithSweepInterval(d time.Duration) Option {
	return func(s *Store) { s.sweepInterval = d }
}

// New returns a Store whose callbacks live for ttl and which holds at most
// maxEntries entries (pending callbacks and tombstones together, since both
// use memory). Close stops its background sweep.
func New(ttl time.Duration, maxEntries int, opts ...Option) *Store {
	s := &Store{
		ttl:           ttl,
		maxEntries:    maxEntries,
		now:           time.Now,
		records:       make(map[string]*record),
		waiters:       wakeup.NewHub(),
		sweepInterval: time.Second,
		stop:          make(chan struct{}),
		done:          make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	go s.sweepLoop()
	return s
}

// Put implements callback.Store.
func (s *Store) Put(_ context.Context, c callback.Callback) error {
	if err := s.put(c); err != nil {
		return err
	}
	s.waiters.Notify(c.State)
	return nil
}

// Subscribe implements callback.Notifier: Put wakes the waiters directly.
func (s *Store) Subscribe(state string) (<-chan struct{}, func()) {
	return s.waiters.Subscribe(state)
}

func (s *Store) put(c callback.Callback) error {
	// Encoded outside the lock, and a copy: nothing the caller keeps, like
	// the request's query string, stays alive with the entry.
	encoded, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode callback: %w", err)
	}
	value := string(encoded)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expireLocked(now)
	if _, ok := s.records[c.State]; ok {
		return callback.ErrExists
	}
	if len(s.records) >= s.maxEntries {
		return fmt.Errorf("%w: %d entries", callback.ErrFull, len(s.records))
	}
	expires := now.Add(s.ttl)
	state := strings.Clone(c.State) // one copy, shared by the map and the queue
	s.records[state] = &record{value: value, expires: expires}
	s.pending.push(state, expires)
	s.nPending++
	return nil
}

// Take implements callback.Store.
func (s *Store) Take(_ context.Context, state string) (callback.Callback, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expireLocked(now)
	r, ok := s.records[state]
	switch {
	case !ok:
		return callback.Callback{}, callback.ErrNotFound
	case r.taken:
		return callback.Callback{}, callback.ErrAlreadyTaken
	}
	value := r.value
	// The record stays as a tombstone so that a second take answers
	// "already retrieved" and a second callback cannot replace this one.
	r.value = ""
	r.taken = true
	r.expires = now.Add(s.ttl)
	s.tombstones.push(state, r.expires)
	s.nPending--
	return decode(value, state)
}

func decode(value, state string) (callback.Callback, error) {
	var c callback.Callback
	if err := json.Unmarshal([]byte(value), &c); err != nil {
		return callback.Callback{}, fmt.Errorf("decode stored callback: %w", err)
	}
	c.State = state
	return c, nil
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

// Len reports how many entries (pending and tombstones) the store holds,
// expired ones not yet swept included; for tests and metrics.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

func (s *Store) sweepLoop() {
	defer close(s.done)
	if s.sweepInterval <= 0 {
		<-s.stop
		return
	}
	t := time.NewTicker(s.sweepInterval)
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

// expireLocked removes every entry whose time has come. The queues are in
// expiry order, so it stops at the first entry still alive.
func (s *Store) expireLocked(now time.Time) {
	for {
		item, ok := s.pending.peek()
		if !ok || now.Before(item.expires) {
			break
		}
		s.pending.pop()
		// The queue item is stale when the callback was taken meanwhile:
		// the record is now a tombstone with its own expiry.
		if r, ok := s.records[item.state]; ok && !r.taken && r.expires.Equal(item.expires) {
			delete(s.records, item.state)
			s.nPending--
		}
	}
	for {
		item, ok := s.tombstones.peek()
		if !ok || now.Before(item.expires) {
			break
		}
		s.tombstones.pop()
		if r, ok := s.records[item.state]; ok && r.taken && r.expires.Equal(item.expires) {
			delete(s.records, item.state)
		}
	}
}
