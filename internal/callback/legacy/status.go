package legacy

import (
	"context"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// Status implements callback.Store.
func (s *Store) Status(ctx context.Context, app callback.App, state string) (callback.Status, error) {
	if err := app.Check(); err != nil {
		return callback.Status{}, err
	}
	k := s.keys(state)
	vals, err := statusScript.Run(ctx, s.client, k.stateKeys(), len(k.names), appArg(app)).Slice()
	if err != nil {
		return callback.Status{}, storeError("read status", err)
	}
	res, err := parseStatus(vals)
	if err != nil {
		return callback.Status{}, err
	}
	st := callback.Status{Phase: callback.Phase(res.progress)}
	if st.Phase != callback.PhaseUnknown {
		st.ExpiresAt = s.now().Add(time.Duration(res.ms) * time.Millisecond)
	}
	return st, nil
}
