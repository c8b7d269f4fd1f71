package legacy

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// Register implements callback.Store. A ttl of zero, or above the store's,
// is the store's TTL.
func (s *Store) Register(ctx context.Context, app callback.App, state string, reg callback.Registration) error {
	if err := app.Check(); err != nil {
		return err
	}
	ttl := reg.TTL
	if ttl <= 0 || ttl > s.ttl {
		ttl = s.ttl
	}
	k := s.keys(state)
	aad := []byte(k.names[0].registration)
	var value []byte
	switch {
	case reg.Link == nil && reg.Issuer == "":
		sealed, err := s.sealer.Seal(state, reg.Metadata, aad)
		if err != nil {
			return fmt.Errorf("seal registration: %w", err)
		}
		value = sealed
	default:
		r := linkRegistration{Metadata: reg.Metadata, Issuer: reg.Issuer}
		head := registrationEnvelope
		if reg.Link != nil {
			r.Link, head = *reg.Link, linkNotOpened
		}
		plain, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode registration: %w", err)
		}
		sealed, err := s.sealer.Seal(state, plain, aad)
		if err != nil {
			return fmt.Errorf("seal registration: %w", err)
		}
		value = append([]byte(head), sealed...)
	}
	secs := max(int64(ttl/time.Second), 1)
	var linkKey string
	if reg.Link != nil {
		// The link's key first, in its own slot: it finds the state, sealed
		// under the link's ID, so that Redis sees neither.
		linkKey = s.linkKeys(reg.Link.ID)[0]
		sealedState, err := s.sealer.Seal(linkDomain+reg.Link.ID, []byte(state), []byte(linkKey))
		if err != nil {
			return fmt.Errorf("seal link: %w", err)
		}
		ok, err := s.client.SetNX(ctx, linkKey, sealedState, time.Duration(secs)*time.Second).Result()
		if err != nil {
			return storeError("register link", err)
		}
		if !ok {
			return callback.ErrExists
		}
	}
	var markerSecs int64 // 0: no sign-in link, no marker
	if reg.Link != nil {
		markerSecs = int64(callback.LinkMarkerTTL(time.Duration(secs)*time.Second, s.ttl) / time.Second)
	}
	ownerSecs := int64(callback.OwnerTTL(time.Duration(secs)*time.Second, s.ttl) / time.Second)
	err := s.register(ctx, k, value, secs, markerSecs, ownerSecs, app.Owner(), len(value)+len(linkKey))
	if err != nil && linkKey != "" {
		_ = s.client.Del(ctx, linkKey).Err()
	}
	return err
}

// register runs register.lua: the registration's size bytes are counted
// against the registrations' share of the budget, in the script, or on
// Cluster before it (the accounting keys live in another slot).
func (s *Store) register(ctx context.Context, k stateKeys, value []byte, secs, markerSecs, ownerSecs int64, owner string, size int) error {
	now := s.now()
	expiry := now.Add(time.Duration(secs) * time.Second).UnixMilli()
	name := registrationName(k.names[0].name)
	charged, appTotal, appRegistrations := s.chargedTo(owner)
	if s.cluster {
		ok, err := clusterAdmitScript.Run(ctx, s.client, s.accountingKeys(), name, size, "g",
			s.maxBytes, s.maxBytesRegistrations, expiry, now.UnixMilli(), charged, appTotal, appRegistrations).Int()
		if err != nil {
			return storeError("register state", err)
		}
		if ok != admitOK {
			return fmt.Errorf("%w: the registrations' share of the byte budget is used", callback.ErrFull)
		}
	}
	res, err := registerScript.Run(ctx, s.client, s.scriptKeys(k), value, secs, markerSecs, len(k.names), k.names[0].name,
		size, s.maxBytes, s.maxBytesRegistrations, expiry, now.UnixMilli(), owner, ownerSecs, charged, appTotal, appRegistrations).Int()
	if s.cluster && (err != nil || res != registerStored) {
		s.releaseOnCluster(ctx, name)
	}
	switch {
	case err != nil:
		return storeError("register state", err)
	case res == registerExists:
		return callback.ErrExists
	case res == registerOverBudget:
		return fmt.Errorf("%w: the registrations' share of the byte budget is used", callback.ErrFull)
	case res != registerStored:
		return fmt.Errorf("register state: unexpected reply %d", res)
	}
	return nil
}
