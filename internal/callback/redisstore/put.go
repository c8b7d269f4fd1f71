package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// Put implements callback.Store: a step computed for a state with no
// record first (the common case, a callback of a state nobody registered,
// is then one round trip), and again from the record the step found when
// there was one. The sealed callback is a value of its own, written in the
// step's pipeline, and deleted again when the step did not store it.
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
	in := s.signIn(c.State)
	now := s.now()
	fingerprint := callback.Fingerprint(c)
	nonce := newNonce()
	blob := s.keys.blob(in.partition, blobCallback, nonce)
	bytes := len(sealed) + len(fingerprint) + recordOverhead

	// The record the step is computed from: none, at first, unless only a
	// registered state may have a callback; a step computed for none that
	// finds one is computed again from it.
	var current string
	var r record
	if s.require {
		if current, r, err = s.read(ctx, in); err != nil {
			return callback.Receipt{}, err
		}
	}
	for range maxAttempts {
		phase, _ := r.phaseAt(now, s.ttl)
		if current == "" {
			phase = callback.PhaseUnknown
		}
		facts := callback.CallbackFacts{HasLink: r.link != "", Bound: c.Bound, RequireRegistration: s.require,
			IssuerMismatch: r.issuer != "" && c.Iss != "" && r.issuer != stateHash(c.State, "issuer", c.Iss)}
		if err := callback.Guard(phase, facts); err != nil {
			_ = s.client.Del(ctx, blob).Err()
			return callback.Receipt{}, err
		}
		event := callback.EventCallback
		if (phase == callback.PhaseReceived || phase == callback.PhaseTaken) && r.fp == fingerprint {
			event = callback.EventSameCallback
		}
		next := callback.Next(phase, event)
		if next.Next != callback.PhaseReceived && next.Next != callback.PhaseConflict {
			_ = s.client.Del(ctx, blob).Err()
			return callback.Receipt{}, next.Err
		}
		st := s.putStep(in, current, r, phase, next.Next, now, fingerprint, nonce, bytes)
		o, err := s.apply(ctx, in, st, func(p redis.Pipeliner) {
			if next.Next == callback.PhaseReceived {
				p.Set(ctx, blob, sealed, st.ttl)
			}
		}, nil)
		if err != nil {
			var full *callback.FullError
			if errors.As(err, &full) {
				_ = s.client.Del(ctx, blob).Err() // not stored
			}
			return callback.Receipt{}, err // else it may have been: what it wrote names the value, which expires by itself otherwise
		}
		if o.changed {
			current = o.current
			if current != "" {
				if r, err = parseRecord(current); err != nil {
					return callback.Receipt{}, err
				}
			} else {
				r = record{}
			}
			continue
		}
		if next.Next == callback.PhaseConflict {
			_ = s.client.Del(ctx, blob).Err()
			return callback.Receipt{}, next.Err
		}
		return s.receipt(ctx, in, r, phase != callback.PhaseUnknown), nil
	}
	_ = s.client.Del(ctx, blob).Err()
	return callback.Receipt{}, errContended
}

// putStep is the step of a callback in phase, computed from r (current:
// its string, "" for none), to phase next: PhaseReceived, the callback
// stored (a registration's metadata, link, owner and bytes passing to
// it), or PhaseConflict, neither callback ever handed out.
func (s *Store) putStep(in signIn, current string, r record, phase, next callback.Phase, now time.Time, fingerprint, nonce string, bytes int) step {
	st := step{expected: current, ttl: s.ttl, wake: true, release: r.held, releaseApp: r.charged()}
	if next == callback.PhaseConflict {
		st.next = record{phase: callback.PhaseConflict, until: now.Add(s.ttl), owner: r.owner, link: r.link}
		st.deletes = s.blobsOf(in, r)
		return st
	}
	until := now.Add(s.ttl)
	st.next = record{phase: callback.PhaseReceived, until: until, fp: fingerprint, callback: nonce}
	if phase == callback.PhaseUnknown {
		// Nobody's: its bytes are the unregistered share's. What is left of
		// a lapsed record goes.
		st.deletes = s.blobsOf(in, r)
		st.next.held = heldUntil(classUnregistered, bytes, until)
		st.admit = st.next.held
		st.checks = s.budget.checks(classUnregistered, st.admit.bytes, "", 0, 0)
		return st
	}
	// Registered: the registration stays, for its metadata, as long as the
	// callback; its bytes are counted again as the callback's.
	st.next.registration, st.next.owner, st.next.appCap, st.next.link, st.next.issuer = r.registration, r.owner, r.appCap, r.link, r.issuer
	if r.link != "" {
		st.ttl = 2 * s.ttl // its link's phase outlives it
	}
	st.next.held = heldUntil(classRegistered, bytes+int(r.held.bytes), until)
	st.admit, st.admitApp = st.next.held, r.charged()
	st.checks = s.budget.checks(classRegistered, st.admit.bytes-r.held.bytes, r.charged(), r.appCap, 0)
	if r.registration != "" {
		st.expires = []string{s.keys.blob(in.partition, blobRegistration, r.registration)}
	}
	return st
}

// receipt says whether the state was registered, and its sign-in link's
// way back, read from its registration (stored already: an unreadable
// one only loses the way back).
func (s *Store) receipt(ctx context.Context, in signIn, r record, registered bool) callback.Receipt {
	receipt := callback.Receipt{Registered: registered}
	if registered && r.link != "" && r.registration != "" {
		if value, err := s.client.Get(ctx, s.keys.blob(in.partition, blobRegistration, r.registration)).Result(); err == nil {
			if reg, err := s.openRegistration(in.state, value); err == nil && reg.Link != nil {
				receipt.ReturnURL = reg.Link.ReturnURL
			}
		}
	}
	return receipt
}
