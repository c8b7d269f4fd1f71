package legacy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// linkRegistration is what a registration with a sign-in link seals, and
// (without Link) one that names an issuer.
type linkRegistration struct {
	callback.Link
	Metadata json.RawMessage `json:"metadata,omitempty"`
	Issuer   string          `json:"issuer,omitempty"`
}

// linkDomain keeps a link ID's names and keys apart from a state's.
const linkDomain = "sign-in-link\x00"

// registration is a registration value as read back.
type registration struct {
	metadata json.RawMessage
	link     *callback.Link // nil without a sign-in link
	issuer   string         // empty when the registration named none
}

// openRegistration reads a registration value stored under aad: the sealed
// metadata alone; registrationEnvelope and a sealed linkRegistration (an
// issuer, no link); or linkNotOpened/linkOpened and a sealed
// linkRegistration.
func (s *Store) openRegistration(state, value string, aad string) (registration, error) {
	envelope, link := strings.HasPrefix(value, registrationEnvelope), strings.HasPrefix(value, linkNotOpened[:1])
	if !envelope && !link {
		metadata, err := s.sealer.Open(state, []byte(value), []byte(aad))
		return registration{metadata: metadata}, err
	}
	head := len(linkNotOpened)
	if envelope {
		head = len(registrationEnvelope)
	}
	if len(value) < head {
		return registration{}, fmt.Errorf("registration: %d bytes", len(value))
	}
	plain, err := s.sealer.Open(state, []byte(value[head:]), []byte(aad))
	if err != nil {
		return registration{}, err
	}
	var r linkRegistration
	if err := json.Unmarshal(plain, &r); err != nil {
		return registration{}, err
	}
	out := registration{metadata: r.Metadata, issuer: r.Issuer}
	if link {
		out.link = &r.Link
	}
	return out, nil
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
	reg, err := s.openRegistration(state, res.reg, k.names[res.regAt-1].registration)
	link := reg.link
	if err != nil || link == nil {
		return "", callback.Link{}, false, fmt.Errorf("%w: registration: %v", callback.ErrUnreadable, err)
	}
	link.ID = id
	return state, *link, res.first, nil
}
