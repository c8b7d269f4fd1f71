package redisstore

import (
	"context"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// Register implements callback.Store. A ttl of zero, or above the store's,
// is the store's TTL.
func (s *Store) Register(ctx context.Context, app callback.App, state string, reg callback.Registration) error {
	if err := app.Check(); err != nil {
		return err
	}
	if held, err := s.bridge.holds(ctx, state); held || err != nil {
		return orExists(err)
	}
	ttl := reg.TTL
	if ttl <= 0 || ttl > s.ttl {
		ttl = s.ttl
	}
	ttl = max(ttl.Truncate(time.Second), time.Second)
	value, err := s.sealRegistration(state, reg)
	if err != nil {
		return err
	}
	now := s.now()
	until, keepUntil := now.Add(ttl), now.Add(ttl)
	var linkHash string
	in := s.signIn(state)
	if reg.Link != nil {
		linkHash = stateHash(state, "link", reg.Link.ID)
		keepUntil = now.Add(callback.LinkMarkerTTL(ttl, s.ttl)) // its phase outlives it
		if err := s.addLink(ctx, reg.Link.ID, state, ttl); err != nil {
			return err
		}
	}
	issuer := ""
	if reg.Issuer != "" {
		issuer = stateHash(state, "issuer", reg.Issuer)
	}
	appCap, appRegistrationsCap := s.budget.app(app.Owner())
	vals, err := registerScript.Run(ctx, s.client, append(in.records, in.budget),
		now.UnixMilli(), until.UnixMilli(), keepUntil.UnixMilli(), value, linkHash, app.Owner(), issuer,
		len(value)+len(linkHash)+recordOverhead, bucketOf(until), second(now), s.maxLife(),
		s.budget.all, s.budget.registrations, appCap, appRegistrationsCap).Slice()
	if err == nil {
		err = registerResult(vals)
	} else {
		err = storeError("register state", err)
	}
	if err != nil && reg.Link != nil {
		s.removeLink(ctx, reg.Link.ID)
	}
	return err
}

func registerResult(vals []any) error {
	r, head, err := newReply("register state", vals)
	if err != nil {
		return err
	}
	if head == string(callback.PhaseRegistered) {
		return r.need(1)
	}
	if err, ok := r.refusal(head, callback.EventRegister); ok {
		return err
	}
	return r.unexpected(head)
}

// orExists is ErrExists, or err when the look failed.
func orExists(err error) error {
	if err != nil {
		return err
	}
	return callback.ErrExists
}
