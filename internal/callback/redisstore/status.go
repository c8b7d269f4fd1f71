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
	l, err := s.look(ctx, s.signIn(state))
	if err != nil {
		return callback.Status{}, err
	}
	l = l.visibleTo(app)
	if s.bridge.mayHold(l.phase) {
		if old, err := s.bridge.old.Status(ctx, app, state); err != nil || old.Phase != callback.PhaseUnknown {
			return old, err
		}
	}
	if l.phase == callback.PhaseUnknown {
		return callback.Status{Phase: callback.PhaseUnknown}, nil
	}
	return callback.Status{Phase: l.phase, ExpiresAt: l.until}, nil
}
