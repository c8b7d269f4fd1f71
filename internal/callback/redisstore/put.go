package redisstore

import (
	"context"
	"fmt"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// Put implements callback.Store.
func (s *Store) Put(ctx context.Context, c callback.Callback) (callback.Receipt, error) {
	if held, err := s.bridge.holds(ctx, c.State); held || err != nil {
		if err != nil {
			return callback.Receipt{}, err
		}
		return s.bridge.old.Put(ctx, c) // a sign-in the previous release began ends in its layout
	}
	plain, err := callback.Encode(c)
	if err != nil {
		return callback.Receipt{}, fmt.Errorf("encode callback: %w", err)
	}
	sealed, err := s.sealer.Seal(c.State, plain, aadCallback)
	if err != nil {
		return callback.Receipt{}, fmt.Errorf("seal callback: %w", err)
	}
	fingerprint := callback.Fingerprint(c)
	issuer := ""
	if c.Iss != "" {
		issuer = stateHash(c.State, "issuer", c.Iss)
	}
	in := s.signIn(c.State)
	now := s.now()
	until := now.Add(s.ttl)
	args := []any{now.UnixMilli(), s.ttl.Milliseconds(), sealed, fingerprint, issuer, flag(c.Bound), flag(s.require),
		len(sealed) + len(fingerprint) + recordOverhead, bucketOf(until), second(now), s.maxLife(),
		s.budget.all, s.budget.unregistered, s.wake.publishCommand()}
	for _, ch := range in.channels {
		args = append(args, ch)
	}
	vals, err := s.runReplicated(ctx, putScript, append(in.records, in.budget), args, callback.PhaseReceived)
	if err != nil {
		return callback.Receipt{}, storeError("store callback", err)
	}
	return s.putResult(c.State, vals)
}

// putResult reads put.lua's reply: for a stored callback, whether the
// state was registered, and its sign-in link's return URL.
func (s *Store) putResult(state string, vals []any) (callback.Receipt, error) {
	r, head, err := newReply("store callback", vals)
	if err != nil {
		return callback.Receipt{}, err
	}
	if err, ok := r.refusal(head, callback.EventCallback); ok {
		return callback.Receipt{}, err
	}
	if head != string(callback.PhaseReceived) {
		return callback.Receipt{}, r.unexpected(head)
	}
	if err := r.need(3); err != nil {
		return callback.Receipt{}, err
	}
	registered, err := r.flag(1)
	if err != nil {
		return callback.Receipt{}, err
	}
	value, err := r.str(2)
	if err != nil {
		return callback.Receipt{}, err
	}
	receipt := callback.Receipt{Registered: registered}
	if value != "" {
		// Stored already: an unreadable link only loses the way back.
		if reg, err := s.openRegistration(state, value); err == nil && reg.Link != nil {
			receipt.ReturnURL = reg.Link.ReturnURL
		}
	}
	return receipt, nil
}

// flag is a boolean as the scripts read it.
func flag(b bool) string {
	if b {
		return "1"
	}
	return ""
}
