package legacy

import (
	"context"
	"fmt"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// releaseRegistrationOnCluster gives back a registration's bytes under
// any of the state's names (register.lua counts them under the first name
// of the replica that registered).
func (s *Store) releaseRegistrationOnCluster(ctx context.Context, k stateKeys) {
	for _, n := range k.names {
		s.releaseOnCluster(ctx, registrationName(n.name))
	}
}

// putOnCluster admits the callback's bytes in the accounting slot, stores
// it in the state's slot, and releases what was not stored. A state that
// has an entry already is not admitted: the put refuses it anyway, and
// admitting its name twice would count it twice.
func (s *Store) putOnCluster(ctx context.Context, state string, k stateKeys, args []any, size int, expiry int64, now time.Time) (callback.Receipt, error) {
	pipe := s.client.Pipeline()
	callbacks := pipe.Exists(ctx, k.callbackKeys()...)
	tombstones := pipe.MGet(ctx, k.tombstoneKeys()...)
	registrations := pipe.Exists(ctx, k.registrationKeys()...)
	owners := pipe.MGet(ctx, k.ownerKeys()...)
	if _, err := pipe.Exec(ctx); err != nil {
		return callback.Receipt{}, storeError("store callback", err)
	}
	hasEntry := callbacks.Val() > 0
	for _, t := range tombstones.Val() {
		if t != nil && t != linkMarker { // a sign-in link's marker is no entry
			hasEntry = true
		}
	}
	admitted := false
	if !hasEntry {
		class, limit := "u", s.maxBytesUnregistered
		charged, appTotal := "", int64(0)
		if registrations.Val() > 0 {
			class, limit = "r", int64(0)
			for _, owner := range owners.Val() {
				if owner, ok := owner.(string); ok {
					charged, appTotal, _ = s.chargedTo(owner)
					break
				}
			}
		}
		ok, err := clusterAdmitScript.Run(ctx, s.client, s.accountingKeys(), k.names[0].name, size, class,
			s.maxBytes, limit, expiry, now.UnixMilli(), charged, appTotal, 0).Int()
		if err != nil {
			return callback.Receipt{}, storeError("store callback", err)
		}
		if ok != admitOK {
			return callback.Receipt{}, fmt.Errorf("%w: the byte budget of %d is used", callback.ErrFull, s.maxBytes)
		}
		admitted = true
	}
	vals, err := putScript.Run(ctx, s.client, s.scriptKeys(k), args...).Slice()
	if err != nil {
		if admitted {
			s.releaseOnCluster(ctx, k.names[0].name)
		}
		return callback.Receipt{}, storeError("store callback", err)
	}
	res, err := parsePut(vals, len(k.names))
	if err != nil {
		if admitted {
			s.releaseOnCluster(ctx, k.names[0].name)
		}
		return callback.Receipt{}, err
	}
	receipt, err := s.putResult(state, k, res)
	if res.code == putConflict && res.discarded != "" {
		s.releaseOnCluster(ctx, res.discarded) // the discarded callback's bytes
	}
	if err == nil && receipt.Registered {
		s.releaseRegistrationOnCluster(ctx, k) // the callback took its bytes over
	}
	if !admitted {
		return receipt, err
	}
	switch {
	case err == nil && receipt.Registered == (registrations.Val() > 0):
	case err == nil:
		// The registration expired between the look and the put: count the
		// bytes as unregistered now.
		s.releaseOnCluster(ctx, k.names[0].name)
		_ = clusterAdmitScript.Run(ctx, s.client, s.accountingKeys(), k.names[0].name, size, "u", 0, 0, expiry, now.UnixMilli(), "", 0, 0).Err()
	default:
		s.releaseOnCluster(ctx, k.names[0].name)
	}
	return receipt, err
}

// releaseOnCluster gives back a name's bytes. If it fails, only the budget
// is off, until the entry's expiry score releases them anyway.
func (s *Store) releaseOnCluster(ctx context.Context, name string) {
	_ = clusterReleaseScript.Run(ctx, s.client, s.accountingKeys(), name).Err()
}
