package redisstore

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
	in := s.signIn(state)
	args := []any{s.now().UnixMilli(), s.ttl.Milliseconds(), appArg(app), s.wake.publishCommand()}
	for _, ch := range in.channels {
		args = append(args, ch)
	}
	vals, err := s.runReplicated(ctx, cancelScript, append(in.records, in.budget), args, callback.PhaseCancelled)
	if err != nil {
		return storeError("cancel", err)
	}
	r, head, err := newReply("cancel", vals)
	if err != nil {
		return err
	}
	if err, ok := r.refusal(head, callback.EventCancel); ok {
		if errors.Is(err, callback.ErrNotFound) && s.bridge.active() {
			return s.bridge.old.Cancel(ctx, app, state)
		}
		return err
	}
	if head != string(callback.PhaseCancelled) {
		return r.unexpected(head)
	}
	return r.need(1)
}
