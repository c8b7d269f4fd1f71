package redisstore

import (
	"context"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// Status implements callback.Store: a plain read, no script.
func (s *Store) Status(ctx context.Context, app callback.App, state string) (callback.Status, error) {
	if err := app.Check(); err != nil {
		return callback.Status{}, err
	}
	current, r, err := s.read(ctx, s.signIn(state))
	if err != nil {
		return callback.Status{}, err
	}
	phase := s.phaseFor(app, current, r)
	if s.bridge.mayHold(phase) {
		if old, err := s.bridge.old.Status(ctx, app, state); err != nil || old.Phase != callback.PhaseUnknown {
			return old, err
		}
	}
	if phase == callback.PhaseUnknown {
		return callback.Status{Phase: callback.PhaseUnknown}, nil
	}
	_, until := r.phaseAt(s.now(), s.ttl)
	return callback.Status{Phase: phase, ExpiresAt: until}, nil
}
