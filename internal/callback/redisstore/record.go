package redisstore

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// look is what a plain read of a sign-in's record says: enough to answer
// every take that finds no callback, and every status, without a script.
type look struct {
	phase callback.Phase // now: a phase whose time ran out has lapsed (callback.LapseOf)
	until time.Time      // when the phase ends
	owner string         // the app that registered the state; "": nobody's
}

// lookFields are what look reads, in this order.
var lookFields = []string{fieldPhase, fieldUntil, fieldLink, fieldOwner}

// look reads the record of in: one HMGET, or one per name in a pipeline
// while the encryption keys rotate (the first name that holds a record
// wins, as in the scripts).
func (s *Store) look(ctx context.Context, in signIn) (look, error) {
	if len(in.records) == 1 {
		vals, err := s.client.HMGet(ctx, in.records[0], lookFields...).Result()
		if err != nil {
			return look{}, storeError("read the sign-in", err)
		}
		return s.lookOf(vals)
	}
	pipe := s.client.Pipeline()
	cmds := make([]*redis.SliceCmd, len(in.records))
	for i, key := range in.records {
		cmds[i] = pipe.HMGet(ctx, key, lookFields...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return look{}, storeError("read the sign-in", err)
	}
	for _, cmd := range cmds {
		if cmd.Val()[0] != nil {
			return s.lookOf(cmd.Val())
		}
	}
	return look{phase: callback.PhaseUnknown}, nil
}

// lookOf reads one HMGET of lookFields.
func (s *Store) lookOf(vals []any) (look, error) {
	if len(vals) != len(lookFields) {
		return look{}, fmt.Errorf("read the sign-in: %d fields, want %d", len(vals), len(lookFields))
	}
	phase, _ := vals[0].(string)
	if phase == "" {
		return look{phase: callback.PhaseUnknown}, nil
	}
	if !slices.Contains(phaseNames, callback.Phase(phase)) {
		return look{}, fmt.Errorf("read the sign-in: unknown phase %q", phase)
	}
	untilText, _ := vals[1].(string)
	ms, err := strconv.ParseInt(untilText, 10, 64)
	if err != nil {
		return look{}, fmt.Errorf("read the sign-in: until %q: %w", untilText, err)
	}
	_, hasLink := vals[2].(string)
	owner, _ := vals[3].(string)
	l := look{phase: callback.Phase(phase), until: time.UnixMilli(ms), owner: owner}
	if l.phase.Holds() && !s.now().Before(l.until) {
		l.phase = callback.LapseOf(l.phase, hasLink)
		l.until = l.until.Add(s.ttl) // PhaseExpired's end; nothing for PhaseUnknown
	}
	return l, nil
}

// visibleTo is l as app sees it: unknown when another app owns it.
func (l look) visibleTo(app callback.App) look {
	if !app.Sees(l.owner) {
		return look{phase: callback.PhaseUnknown}
	}
	return l
}

// registration is what a record's reg holds, sealed: what Register was
// given, returned with the callback.
type registration struct {
	Metadata json.RawMessage `json:"metadata,omitempty"`
	Issuer   string          `json:"issuer,omitempty"`
	Link     *callback.Link  `json:"link,omitempty"` // its ID is not kept: the link's key is named by it
}

// The additional data a record's sealed values are bound to, so that a
// registration never opens as a callback or the other way round. The key
// they are sealed under is the state's own (seal.Sealer).
var (
	aadRegistration = []byte("registration")
	aadCallback     = []byte("callback")
	aadLink         = []byte("link")
)

func (s *Store) sealRegistration(state string, r callback.Registration) ([]byte, error) {
	plain, err := json.Marshal(registration{Metadata: r.Metadata, Issuer: r.Issuer, Link: r.Link})
	if err != nil {
		return nil, fmt.Errorf("encode registration: %w", err)
	}
	return s.sealer.Seal(state, plain, aadRegistration)
}

func (s *Store) openRegistration(state, sealed string) (registration, error) {
	plain, err := s.sealer.Open(state, []byte(sealed), aadRegistration)
	if err != nil {
		return registration{}, fmt.Errorf("%w: registration: %w", callback.ErrUnreadable, err)
	}
	var r registration
	if err := json.Unmarshal(plain, &r); err != nil {
		return registration{}, fmt.Errorf("%w: registration: %w", callback.ErrUnreadable, err)
	}
	return r, nil
}

// stateHash is a short, keyed-with-the-state hash of what of a sign-in a
// record compares but must not show: an issuer, a link's ID. Like
// callback.Fingerprint it says nothing without the state, and it does not
// depend on the encryption keys, so replicas in a key rotation agree on
// it.
func stateHash(state, kind, value string) string {
	m := hmac.New(sha256.New, []byte(state))
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil)[:16])
}
