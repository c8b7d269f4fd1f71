package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// linkKeys are the keys that find the state of a sign-in link's ID, one
// per encryption key (the current one first), in the ID's partition.
func (s *Store) linkKeys(id string) []string {
	p := partitionOf(linkDomain, id)
	var keys []string
	for _, n := range s.sealer.Names(linkDomain + id) {
		keys = append(keys, s.keys.link(p, n))
	}
	return keys
}

// addLink writes the link's keys for as long as its registration lives:
// the state sealed under the link's ID, so that Redis sees neither. A link
// ID in use is ErrExists.
func (s *Store) addLink(ctx context.Context, id, state string, ttl time.Duration) error {
	sealed, err := s.sealer.Seal(linkDomain+id, []byte(state), aadLink)
	if err != nil {
		return fmt.Errorf("seal link: %w", err)
	}
	keys := s.linkKeys(id)
	ok, err := s.client.SetNX(ctx, keys[0], sealed, ttl).Result()
	if err != nil {
		return storeError("register link", err)
	}
	if !ok {
		return callback.ErrExists
	}
	for _, k := range keys[1:] { // while keys rotate: under every name
		if err := s.client.Set(ctx, k, sealed, ttl).Err(); err != nil {
			return storeError("register link", err)
		}
	}
	return nil
}

// removeLink undoes addLink for a registration that did not happen.
func (s *Store) removeLink(ctx context.Context, id string) {
	_ = s.client.Del(ctx, s.linkKeys(id)...).Err()
}

// Start implements callback.Store.
func (s *Store) Start(ctx context.Context, id string) (string, callback.Link, bool, error) {
	values, err := s.client.MGet(ctx, s.linkKeys(id)...).Result()
	if err != nil {
		return "", callback.Link{}, false, storeError("open link", err)
	}
	var sealed string
	for _, v := range values {
		if v, ok := v.(string); ok {
			sealed = v
			break
		}
	}
	if sealed == "" {
		return s.bridge.start(ctx, id)
	}
	plain, err := s.sealer.Open(linkDomain+id, []byte(sealed), aadLink)
	if err != nil {
		return "", callback.Link{}, false, fmt.Errorf("%w: link: %w", callback.ErrUnreadable, err)
	}
	state := string(plain)
	in := s.signIn(state)
	current, r, err := s.read(ctx, in)
	if err != nil {
		return "", callback.Link{}, false, err
	}
	for range maxAttempts {
		phase := callback.PhaseUnknown
		if current != "" && r.link == stateHash(state, "link", id) {
			phase, _ = r.phaseAt(s.now(), s.ttl)
		}
		cell := callback.Next(phase, callback.EventOpen)
		if cell.Err != nil {
			return "", callback.Link{}, false, cell.Err
		}
		regKey := s.keys.blob(in.partition, blobRegistration, r.registration)
		var sealed *redis.StringCmd
		first := phase == callback.PhaseRegistered
		if first {
			next := r
			next.phase = cell.Next
			o, err := s.apply(ctx, in, step{expected: current, next: next}, nil, func(p redis.Pipeliner) { sealed = p.Get(ctx, regKey) })
			if err != nil {
				return "", callback.Link{}, false, err
			}
			if o.changed {
				if current = o.current; current == "" {
					r = record{}
				} else if r, err = parseRecord(current); err != nil {
					return "", callback.Link{}, false, err
				}
				continue
			}
		} else {
			sealed = s.client.Get(ctx, regKey)
		}
		if err := sealed.Err(); err != nil {
			return "", callback.Link{}, false, fmt.Errorf("%w: link: %w", callback.ErrUnreadable, err)
		}
		reg, err := s.openRegistration(state, sealed.Val())
		if err != nil {
			return "", callback.Link{}, false, err
		}
		if reg.Link == nil {
			return "", callback.Link{}, false, fmt.Errorf("%w: a registration with a link holds none", callback.ErrUnreadable)
		}
		link := *reg.Link
		link.ID = id
		return state, link, first, nil
	}
	return "", callback.Link{}, false, errContended
}
