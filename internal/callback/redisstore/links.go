package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// linkRegistration is what a registration with a sign-in link seals.
type linkRegistration struct {
	callback.Link
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// linkDomain keeps a link ID's names and keys apart from a state's.
const linkDomain = "sign-in-link\x00"

// openRegistration reads a registration value stored under aad: the
// metadata, and the link if it has one.
func (s *Store) openRegistration(state, value string, aad string) (json.RawMessage, *callback.Link, error) {
	if !strings.HasPrefix(value, linkNotOpened[:1]) {
		metadata, err := s.sealer.Open(state, []byte(value), []byte(aad))
		return metadata, nil, err
	}
	if len(value) < len(linkNotOpened) {
		return nil, nil, fmt.Errorf("registration: %d bytes", len(value))
	}
	plain, err := s.sealer.Open(state, []byte(value[len(linkNotOpened):]), []byte(aad))
	if err != nil {
		return nil, nil, err
	}
	var r linkRegistration
	if err := json.Unmarshal(plain, &r); err != nil {
		return nil, nil, err
	}
	return r.Metadata, &r.Link, nil
}

// Start implements callback.Store.
func (s *Store) Start(ctx context.Context, id string) (string, callback.Link, bool, error) {
	var state string
	for _, key := range s.linkKeys(id) {
		sealed, err := s.client.Get(ctx, key).Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return "", callback.Link{}, false, storeError("open link", err)
		}
		plain, err := s.sealer.Open(linkDomain+id, sealed, []byte(key))
		if err != nil {
			return "", callback.Link{}, false, fmt.Errorf("%w: link: %w", callback.ErrUnreadable, err)
		}
		state = string(plain)
		break
	}
	if state == "" {
		return "", callback.Link{}, false, callback.ErrNotFound
	}
	k := s.keys(state)
	vals, err := startScript.Run(ctx, s.client, k.stateKeys(), len(k.names)).Slice()
	if err != nil {
		return "", callback.Link{}, false, storeError("open link", err)
	}
	res, err := parseStart(vals, len(k.names))
	if err != nil {
		return "", callback.Link{}, false, err
	}
	if res.code == startNone {
		return "", callback.Link{}, false, callback.ErrNotFound
	}
	_, link, err := s.openRegistration(state, res.reg, k.names[res.regAt-1].registration)
	if err != nil || link == nil {
		return "", callback.Link{}, false, fmt.Errorf("%w: registration: %v", callback.ErrUnreadable, err)
	}
	link.ID = id
	return state, *link, res.first, nil
}
