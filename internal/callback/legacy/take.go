package legacy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// Take implements callback.Store.
func (s *Store) Take(ctx context.Context, app callback.App, state string) (callback.Callback, error) {
	if err := app.Check(); err != nil {
		return callback.Callback{}, err
	}
	k := s.keys(state)
	args := []any{s.ttlSecs, len(k.names)}
	for _, n := range k.names {
		args = append(args, n.name)
	}
	args = append(args, appArg(app))
	res, err := s.runReplicated(ctx, takeScript, s.scriptKeys(k), args, takeTaken)
	if errors.Is(err, callback.ErrNotReplicated) {
		return callback.Callback{}, err
	}
	if err != nil {
		return callback.Callback{}, storeError("take callback", err)
	}
	reply, err := parseTake(res, len(k.names))
	if err != nil {
		return callback.Callback{}, err
	}
	switch reply.code {
	case takeNothing:
		return callback.Callback{}, callback.ErrNotFound
	case takeTakenBefore:
		return callback.Callback{}, callback.ErrAlreadyTaken
	case takeConflicted:
		return callback.Callback{}, callback.ErrConflict
	case takeCancelled:
		return callback.Callback{}, callback.ErrCancelled
	case takeLinkExpired:
		return callback.Callback{}, callback.ErrLinkExpired
	}
	value, found := reply.value, k.names[reply.at-1]
	if s.cluster {
		s.releaseOnCluster(ctx, found.name)
		// As take.lua: normally the callback took the registration's bytes
		// over already; one whose key expired is released by a prune.
		if reply.reg != "" {
			s.releaseRegistrationOnCluster(ctx, k)
		}
	}
	// Taken and unreadable (another server secret, corruption): the code
	// is gone either way; say so rather than pretend it never arrived.
	plain, err := s.sealer.Open(state, []byte(value[fingerprintLen:]), []byte(found.callback))
	if err != nil {
		return callback.Callback{}, fmt.Errorf("%w: %w", callback.ErrUnreadable, err)
	}
	var c callback.Callback
	if err := json.Unmarshal(plain, &c); err != nil {
		return callback.Callback{}, fmt.Errorf("%w: %w", callback.ErrUnreadable, err)
	}
	c.State = state
	if reply.reg != "" {
		reg, err := s.openRegistration(state, reply.reg, k.names[reply.regAt-1].registration)
		if err != nil {
			return callback.Callback{}, fmt.Errorf("%w: registration: %w", callback.ErrUnreadable, err)
		}
		if len(reg.metadata) > 0 {
			c.Metadata = reg.metadata
		}
		c.Issuer = reg.issuer
	}
	return c, nil
}
