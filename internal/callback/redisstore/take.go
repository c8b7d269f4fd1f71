package redisstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// Take implements callback.Store. A plain read first: a take of a state
// with no callback (a poller before the person has signed in, a take by
// another app) changes nothing, and is answered from it alone, one GET.
// A callback to hand out is one step more: the record becomes a tombstone
// and the sealed values move to keys of this take's own, which the same
// pipeline reads.
func (s *Store) Take(ctx context.Context, app callback.App, state string) (callback.Callback, error) {
	if err := app.Check(); err != nil {
		return callback.Callback{}, err
	}
	in := s.signIn(state)
	current, r, err := s.read(ctx, in)
	if err != nil {
		return callback.Callback{}, err
	}
	for range maxAttempts {
		phase := s.phaseFor(app, current, r)
		if s.bridge.mayHold(phase) {
			return s.bridge.old.Take(ctx, app, state)
		}
		if step := callback.Next(phase, callback.EventTake); step.Next != callback.PhaseTaken {
			return callback.Callback{}, step.Err
		}
		nonce := newNonce()
		takenCallback := s.keys.blob(in.partition, blobCallback, "taken:"+nonce)
		takenRegistration := s.keys.blob(in.partition, blobRegistration, "taken:"+nonce)
		now := s.now()
		st := step{expected: current, ttl: s.ttl, release: r.held, releaseApp: r.charged(),
			next:    record{phase: callback.PhaseTaken, until: now.Add(s.ttl), fp: r.fp, owner: r.owner, link: r.link},
			renames: [][2]string{{s.keys.blob(in.partition, blobCallback, r.callback), takenCallback}}}
		if r.registration != "" {
			st.renames = append(st.renames, [2]string{s.keys.blob(in.partition, blobRegistration, r.registration), takenRegistration})
		}
		var sealedCallback, sealedRegistration *redis.StringCmd
		o, err := s.apply(ctx, in, st, nil, func(p redis.Pipeliner) {
			sealedCallback, sealedRegistration = p.GetDel(ctx, takenCallback), p.GetDel(ctx, takenRegistration)
		})
		if err != nil {
			return callback.Callback{}, err
		}
		if o.changed {
			if current = o.current; current == "" {
				r = record{}
			} else if r, err = parseRecord(current); err != nil {
				return callback.Callback{}, err
			}
			continue
		}
		return s.opened(state, o.renamed[0], sealedCallback, len(o.renamed) > 1 && o.renamed[1], sealedRegistration)
	}
	return callback.Callback{}, errContended
}

// phaseFor is the phase a record shows app now: unknown when another app
// owns it.
func (s *Store) phaseFor(app callback.App, current string, r record) callback.Phase {
	if current == "" || !app.Sees(r.owner) {
		return callback.PhaseUnknown
	}
	phase, _ := r.phaseAt(s.now(), s.ttl)
	return phase
}

// opened reads a taken callback and its registration. Taken and
// unreadable (its sealed value gone, another server secret, corruption):
// the code is gone either way; say so rather than pretend it never
// arrived. A registration sealed under a key no replica of this one's
// holds any more (a rotation's last step begun too early) loses its
// metadata, and the callback is still handed out.
func (s *Store) opened(state string, moved bool, sealed *redis.StringCmd, regMoved bool, sealedReg *redis.StringCmd) (callback.Callback, error) {
	if !moved || sealed.Err() != nil {
		return callback.Callback{}, fmt.Errorf("%w: the sealed callback is gone", callback.ErrUnreadable)
	}
	plain, err := s.sealer.Open(state, []byte(sealed.Val()), aadCallback)
	if err != nil {
		return callback.Callback{}, fmt.Errorf("%w: %w", callback.ErrUnreadable, err)
	}
	var c callback.Callback
	if err := json.Unmarshal(plain, &c); err != nil {
		return callback.Callback{}, fmt.Errorf("%w: %w", callback.ErrUnreadable, err)
	}
	c.State = state
	if regMoved && sealedReg.Err() == nil {
		if reg, err := s.openRegistration(state, sealedReg.Val()); err == nil {
			if len(reg.Metadata) > 0 {
				c.Metadata = reg.Metadata
			}
			c.Issuer = reg.Issuer
		}
	}
	return c, nil
}
