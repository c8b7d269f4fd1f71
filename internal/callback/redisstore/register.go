package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// Register implements callback.Store. A ttl of zero, or above the store's,
// is the store's TTL. The sealed registration is a value of its own,
// written in the step's pipeline, and deleted again when the step is not
// made.
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
	in := s.signIn(state)
	next := record{phase: callback.PhaseRegistered, until: now.Add(ttl), registration: newNonce(), owner: app.Owner()}
	keep := ttl
	if reg.Link != nil {
		next.link = stateHash(state, "link", reg.Link.ID)
		keep = callback.LinkMarkerTTL(ttl, s.ttl) // its phase outlives it
		if err := s.addLink(ctx, reg.Link.ID, state, ttl); err != nil {
			return err
		}
	}
	if reg.Issuer != "" {
		next.issuer = stateHash(state, "issuer", reg.Issuer)
	}
	appCap, appRegistrationsCap := s.budget.appCap(app.Owner())
	charged := ""
	if appCap > 0 {
		next.appCap, charged = appCap, app.Owner()
	}
	next.held = heldUntil(classRegistration, len(value)+len(next.link)+recordOverhead, next.until)
	blob := s.keys.blob(in.partition, blobRegistration, next.registration)
	undo := func() {
		_ = s.client.Del(ctx, blob).Err()
		if reg.Link != nil {
			s.removeLink(ctx, reg.Link.ID)
		}
	}

	st := step{next: next, ttl: keep, admit: next.held, admitApp: charged,
		checks: s.budget.checks(classRegistration, next.held.bytes, charged, appCap, appRegistrationsCap)}
	for range maxAttempts {
		o, err := s.apply(ctx, in, st, func(p redis.Pipeliner) {
			p.Set(ctx, blob, value, keep)
		}, nil)
		if err != nil {
			var full *callback.FullError
			if errors.As(err, &full) {
				undo() // refused: nothing names it
			}
			return err // else the step may have been made: what it wrote names the value, which expires by itself otherwise
		}
		if !o.changed {
			return nil
		}
		old, err := parseRecord(o.current)
		if err != nil {
			return err
		}
		if phase, _ := old.phaseAt(now, s.ttl); phase != callback.PhaseUnknown {
			undo()
			return callback.Next(phase, callback.EventRegister).Err
		}
		// What is left of a sign-in whose time ran out: replaced, its bytes
		// given back and its sealed values deleted.
		st.expected, st.release, st.releaseApp = o.current, old.held, old.charged()
		st.deletes = s.blobsOf(in, old)
	}
	undo()
	return errContended
}

// blobsOf are the keys of r's sealed values.
func (s *Store) blobsOf(in signIn, r record) []string {
	var keys []string
	if r.callback != "" {
		keys = append(keys, s.keys.blob(in.partition, blobCallback, r.callback))
	}
	if r.registration != "" {
		keys = append(keys, s.keys.blob(in.partition, blobRegistration, r.registration))
	}
	return keys
}

// orExists is ErrExists, or err when the look failed.
func orExists(err error) error {
	if err != nil {
		return err
	}
	return callback.ErrExists
}
