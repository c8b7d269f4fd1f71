package legacy

import (
	"context"
	"errors"
	"fmt"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// Put implements callback.Store.
func (s *Store) Put(ctx context.Context, c callback.Callback) (callback.Receipt, error) {
	plain, err := callback.Encode(c)
	if err != nil {
		return callback.Receipt{}, fmt.Errorf("encode callback: %w", err)
	}
	k := s.keys(c.State)
	if err := s.checkIssuer(ctx, c, k); err != nil {
		return callback.Receipt{}, err
	}
	sealed, err := s.sealer.Seal(c.State, plain, []byte(k.names[0].callback))
	if err != nil {
		return callback.Receipt{}, fmt.Errorf("seal callback: %w", err)
	}
	fingerprint := callback.Fingerprint(c)
	value := append([]byte(fingerprint), sealed...)
	require := "0"
	if s.require {
		require = "1"
	}
	now := s.now()
	expiry := now.Add(s.ttl).UnixMilli()
	size := len(value)
	bound := "0"
	if c.Bound {
		bound = "1"
	}
	args := []any{value, s.ttlSecs, expiry, now.UnixMilli(), s.storedChannel(), require, fingerprint,
		s.maxBytes, s.maxBytesUnregistered, size, len(k.names), bound}
	for _, n := range k.names {
		args = append(args, n.name)
	}
	args = append(args, s.appBudgets...)
	if s.cluster {
		return s.putOnCluster(ctx, c.State, k, args, size, expiry, now)
	}
	vals, err := s.runReplicated(ctx, putScript, s.scriptKeys(k), args, putStored)
	if errors.Is(err, callback.ErrNotReplicated) {
		return callback.Receipt{}, err
	}
	if err != nil {
		return callback.Receipt{}, storeError("store callback", err)
	}
	res, err := parsePut(vals, len(k.names))
	if err != nil {
		return callback.Receipt{}, err
	}
	return s.putResult(c.State, k, res)
}

// checkIssuer refuses a callback whose iss differs from the issuer the
// state's registration named (RFC 9207). The registration is sealed, so
// the check reads it here, before put.lua, and only for a callback that
// carries iss. A registration's issuer never changes while it lives; one
// made between this read and put.lua (after its own callback arrived) is
// not checked.
func (s *Store) checkIssuer(ctx context.Context, c callback.Callback, k stateKeys) error {
	if c.Iss == "" {
		return nil
	}
	values, err := s.client.MGet(ctx, k.registrationKeys()...).Result()
	if err != nil {
		return storeError("read registration", err)
	}
	for i, v := range values {
		value, ok := v.(string)
		if !ok {
			continue
		}
		reg, err := s.openRegistration(c.State, value, k.names[i].registration)
		if err != nil {
			return fmt.Errorf("%w: registration: %w", callback.ErrUnreadable, err)
		}
		if reg.issuer != "" && reg.issuer != c.Iss {
			return callback.ErrIssuerMismatch
		}
	}
	return nil
}

// putResult reads put.lua's reply: for a stored callback, whether the
// state was registered, and its sign-in link's return URL.
func (s *Store) putResult(state string, k stateKeys, res putReply) (callback.Receipt, error) {
	switch res.code {
	case putStored:
		receipt := callback.Receipt{Registered: res.registered}
		if res.reg != "" {
			// Stored already: an unreadable link only loses the way back.
			if reg, err := s.openRegistration(state, res.reg, k.names[res.regAt-1].registration); err == nil && reg.link != nil {
				receipt.ReturnURL = reg.link.ReturnURL
			}
		}
		return receipt, nil
	case putDuplicate:
		return callback.Receipt{}, callback.ErrExists
	case putNotRegistered:
		return callback.Receipt{}, callback.ErrNotRegistered
	case putConflict:
		return callback.Receipt{}, callback.ErrConflict
	case putConflictAfterTake:
		return callback.Receipt{}, callback.ErrConflictAfterTake
	case putOverBudget:
		return callback.Receipt{}, fmt.Errorf("%w: the byte budget is used", callback.ErrFull)
	case putUnbound:
		return callback.Receipt{}, callback.ErrUnbound
	case putCancelled:
		return callback.Receipt{}, callback.ErrCancelled
	case putLinkExpired:
		return callback.Receipt{}, callback.ErrLinkExpired
	}
	return callback.Receipt{}, fmt.Errorf("store callback: unexpected reply code %d", res.code)
}
