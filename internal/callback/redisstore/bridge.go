package redisstore

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/legacy"
)

// bridge keeps sign-ins whole across the upgrade to this layout. While a
// rolling upgrade runs the previous release beside this one on one Redis,
// and until what the previous release wrote has expired, this store also
// reads the previous layout (package legacy):
//
//   - a take, status, cancel or start that finds nothing here looks there,
//     and so does a take or status that finds only a registration here
//     (its callback may have reached a replica of the previous release);
//   - a callback or registration for a state the previous layout holds
//     goes there (a registration is refused: the state is in use), so that
//     a sign-in ends in the layout where it began, under that layout's
//     exactly-once;
//   - waiters here are woken by the previous release's channel too.
//
// The previous release does not read this layout. Until the last of its
// replicas is gone: a poll that reaches one answers 404 for a callback
// stored here (the MCP server's next poll, through another replica, takes
// it); a callback that reaches one for a state registered here is stored
// there as a state nobody registered (taken all the same, but without the
// registration's metadata, and without its sign-in link's binding, issuer
// check or app); and a second callback of a state that reaches the other
// release is not compared with the first (no duplicate, no conflict).
// docs/deployment.md says so under "Upgrading".
//
// The bridge knows the previous layout is in use by its accounting keys,
// whose sets hold every callback and registration it has: it looks every
// checkEvery, and stays active for a store TTL after it last saw a live
// entry there, or, at start, the keys at all (tombstones and link markers
// outlive their entries by that much). Then it removes those keys, so
// that a store that starts later, on a Redis where they are gone, never
// looks there but for that check.
type bridge struct {
	s       *Store
	old     *legacy.Store
	activeV atomic.Bool
	ctx     context.Context // cancelled by close: a check in flight ends
	stop    context.CancelFunc
	done    chan struct{}
}

// checkEvery is how often the bridge looks whether the previous layout
// is in use.
const checkEvery = 10 * time.Second

func newBridge(s *Store, old *legacy.Store) *bridge {
	ctx, stop := context.WithCancel(context.Background())
	b := &bridge{s: s, old: old, ctx: ctx, stop: stop, done: make(chan struct{})}
	b.activeV.Store(true) // until the first check says otherwise
	go b.run()
	return b
}

// active reports whether the previous layout may hold a sign-in.
func (b *bridge) active() bool { return b.activeV.Load() }

func (b *bridge) run() {
	defer close(b.done)
	var lastSeen time.Time // zero: never seen in use
	t := time.NewTicker(checkEvery)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(b.ctx, checkEvery)
		live, used, err := b.old.Live(ctx)
		now := time.Now()
		switch {
		case err != nil:
			// Redis unreachable: nothing changes until it answers.
		case live > 0 || used && lastSeen.IsZero():
			// In use, or used by a release that may have stopped just
			// now: what it left (tombstones, link markers) lives a TTL.
			lastSeen = now
		}
		active := err != nil && b.active() || !lastSeen.IsZero() && now.Sub(lastSeen) < b.s.ttl+checkEvery
		if !active && used && err == nil && live == 0 {
			// Drained: a store that starts later need not look.
			_ = b.old.Forget(ctx)
		}
		cancel()
		b.activeV.Store(active)
		if active {
			b.s.wake.setExtra(b.old.StoredChannel())
		} else {
			b.s.wake.setExtra("")
		}
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// mayHold reports whether the previous layout may hold the callback of a
// state this layout sees in phase: none here, or only a registration (a
// callback that reached a replica of the previous release, which does not
// read this layout, was stored there).
func (b *bridge) mayHold(phase callback.Phase) bool {
	return b.active() && (phase == callback.PhaseUnknown || phase == callback.PhaseRegistered || phase == callback.PhaseStarted)
}

// holds reports whether the previous layout holds state: a sign-in that
// began there ends there.
func (b *bridge) holds(ctx context.Context, state string) (bool, error) {
	if !b.active() {
		return false, nil
	}
	return b.old.Holds(ctx, state)
}

// start opens a link the previous layout holds, if any.
func (b *bridge) start(ctx context.Context, id string) (string, callback.Link, bool, error) {
	if !b.active() {
		return "", callback.Link{}, false, callback.ErrNotFound
	}
	return b.old.Start(ctx, id)
}

// pending counts the previous layout's pending callbacks, while it may
// hold some.
func (b *bridge) pending(ctx context.Context) (int64, error) {
	if !b.active() {
		return 0, nil
	}
	n, err := b.old.Pending(ctx)
	if errors.Is(err, callback.ErrUnavailable) {
		return 0, err
	}
	return n, err
}

func (b *bridge) close() {
	b.stop()
	<-b.done
}
