package legacy

import (
	"context"
	"errors"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// Cancel implements callback.Store.
func (s *Store) Cancel(ctx context.Context, app callback.App, state string) error {
	if err := app.Check(); err != nil {
		return err
	}
	k := s.keys(state)
	args := []any{s.ttlSecs, s.storedChannel(), len(k.names)}
	for _, n := range k.names {
		args = append(args, n.name)
	}
	args = append(args, appArg(app))
	vals, err := s.runReplicated(ctx, cancelScript, s.scriptKeys(k), args, cancelCancelled)
	if errors.Is(err, callback.ErrNotReplicated) {
		return err
	}
	if err != nil {
		return storeError("cancel", err)
	}
	res, err := parseCancel(vals)
	if err != nil {
		return err
	}
	switch res.code {
	case cancelUnknown:
		return callback.ErrNotFound
	case cancelTaken:
		return callback.ErrAlreadyTaken
	case cancelConflicted:
		return callback.ErrConflict
	}
	if s.cluster {
		if res.released != "" {
			s.releaseOnCluster(ctx, res.released)
		}
		s.releaseRegistrationOnCluster(ctx, k)
	}
	return nil
}
