package redisstore

import (
	"context"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// Cancel implements callback.Store: a plain read, then the step, which
// leaves a tombstone, gives the bytes back, deletes the sealed values and
// wakes the waiters, whose take now says so.
func (s *Store) Cancel(ctx context.Context, app callback.App, state string) error {
	if err := app.Check(); err != nil {
		return err
	}
	in := s.signIn(state)
	current, r, err := s.read(ctx, in)
	if err != nil {
		return err
	}
	for range maxAttempts {
		phase := s.phaseFor(app, current, r)
		if phase == callback.PhaseUnknown && s.bridge.active() {
			return s.bridge.old.Cancel(ctx, app, state)
		}
		cell := callback.Next(phase, callback.EventCancel)
		if cell.Err != nil || phase == callback.PhaseCancelled {
			return cell.Err
		}
		now := s.now()
		st := step{expected: current, ttl: s.ttl, release: r.held, releaseApp: r.charged(), deletes: s.blobsOf(in, r), wake: true,
			next: record{phase: callback.PhaseCancelled, until: now.Add(s.ttl), owner: r.owner, link: r.link}}
		o, err := s.apply(ctx, in, st, nil, nil)
		if err != nil || !o.changed {
			return err
		}
		if current = o.current; current == "" {
			r = record{}
		} else if r, err = parseRecord(current); err != nil {
			return err
		}
	}
	return errContended
}
