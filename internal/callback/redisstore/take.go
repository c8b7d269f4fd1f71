package redisstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// Take implements callback.Store. A plain read first: a take of a state
// with no callback (a poller before the person has signed in, a take by
// another app) changes nothing, and is answered from it alone, one HMGET;
// only a callback to hand out runs take.lua, which reads again, atomically.
func (s *Store) Take(ctx context.Context, app callback.App, state string) (callback.Callback, error) {
	if err := app.Check(); err != nil {
		return callback.Callback{}, err
	}
	in := s.signIn(state)
	l, err := s.look(ctx, in)
	if err != nil {
		return callback.Callback{}, err
	}
	l = l.visibleTo(app)
	if s.bridge.mayHold(l.phase) {
		return s.bridge.old.Take(ctx, app, state)
	}
	if l.phase != callback.PhaseReceived {
		return callback.Callback{}, callback.Next(l.phase, callback.EventTake).Err
	}
	vals, err := s.runReplicated(ctx, takeScript, append(in.records, in.budget),
		[]any{s.now().UnixMilli(), s.ttl.Milliseconds(), appArg(app)}, callback.PhaseTaken)
	if err != nil {
		return callback.Callback{}, storeError("take callback", err)
	}
	r, head, err := newReply("take callback", vals)
	if err != nil {
		return callback.Callback{}, err
	}
	if err, ok := r.refusal(head, callback.EventTake); ok {
		return callback.Callback{}, err
	}
	if head != string(callback.PhaseTaken) {
		return callback.Callback{}, r.unexpected(head)
	}
	if err := r.need(3); err != nil {
		return callback.Callback{}, err
	}
	sealed, err := r.str(1)
	if err != nil {
		return callback.Callback{}, err
	}
	regValue, err := r.str(2)
	if err != nil {
		return callback.Callback{}, err
	}
	// Taken and unreadable (another server secret, corruption): the code
	// is gone either way; say so rather than pretend it never arrived.
	plain, err := s.sealer.Open(state, []byte(sealed), aadCallback)
	if err != nil {
		return callback.Callback{}, fmt.Errorf("%w: %w", callback.ErrUnreadable, err)
	}
	var c callback.Callback
	if err := json.Unmarshal(plain, &c); err != nil {
		return callback.Callback{}, fmt.Errorf("%w: %w", callback.ErrUnreadable, err)
	}
	c.State = state
	if regValue != "" {
		// Sealed under a key no replica of this one's holds any more (a
		// rotation's last step begun too early), the registration loses
		// its metadata, and the callback, which is taken, is still handed
		// out.
		if reg, err := s.openRegistration(state, regValue); err == nil {
			if len(reg.Metadata) > 0 {
				c.Metadata = reg.Metadata
			}
			c.Issuer = reg.Issuer
		}
	}
	return c, nil
}
