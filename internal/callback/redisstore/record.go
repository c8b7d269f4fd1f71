package redisstore

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// record is a sign-in's record (layout.go has its string).
type record struct {
	phase        callback.Phase // as stored: see phaseAt for the phase now
	until        time.Time      // when the phase ends
	fp           string         // callback.Fingerprint of the callback received or taken
	callback     string         // the sealed callback's nonce, while received
	registration string         // the sealed registration's nonce
	held         held           // what it counts in its partition's budget
	owner        string         // the app that registered the state; "": nobody's
	appCap       int64          // the owner's part of its share in the partition; 0: none of its own
	link         string         // stateHash of the sign-in link's ID
	issuer       string         // stateHash of the issuer the registration named
}

// held is what a record counts in its partition's budget: bytes of a
// class, until a second.
type held struct {
	class  string // classUnregistered, classRegistration or classRegistered; "": nothing
	bytes  int64
	second int64 // when they stop counting
}

func (h held) String() string {
	if h.class == "" {
		return none
	}
	return h.class + ":" + strconv.FormatInt(h.bytes, 10) + ":" + strconv.FormatInt(h.second, 10)
}

func parseHeld(s string) (held, error) {
	if s == none {
		return held{}, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return held{}, fmt.Errorf("held %q", s)
	}
	bytes, err1 := strconv.ParseInt(parts[1], 10, 64)
	second, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return held{}, fmt.Errorf("held %q: %w", s, err)
	}
	return held{class: parts[0], bytes: bytes, second: second}, nil
}

// String is the record as stored.
func (r record) String() string {
	appCap := none
	if r.appCap > 0 {
		appCap = strconv.FormatInt(r.appCap, 10)
	}
	return strings.Join([]string{string(r.phase), strconv.FormatInt(r.until.UnixMilli(), 10), orNone(r.fp), orNone(r.callback),
		orNone(r.registration), r.held.String(), orNone(r.owner), appCap, orNone(r.link), orNone(r.issuer)}, " ")
}

// parseRecord reads a record's string.
func parseRecord(v string) (record, error) {
	f := strings.Split(v, " ")
	if len(f) != len(recordFields) {
		return record{}, fmt.Errorf("read the sign-in: %d fields, want %d", len(f), len(recordFields))
	}
	field := func(name string) string {
		if s := f[slices.Index(recordFields, name)]; s != none {
			return s
		}
		return ""
	}
	r := record{phase: callback.Phase(field("phase")), fp: field("fp"), callback: field("callback"),
		registration: field("registration"), owner: field("owner"), link: field("link"), issuer: field("issuer")}
	if !slices.Contains(phaseNames, r.phase) {
		return record{}, fmt.Errorf("read the sign-in: unknown phase %q", r.phase)
	}
	ms, err := strconv.ParseInt(field("until"), 10, 64)
	if err != nil {
		return record{}, fmt.Errorf("read the sign-in: until: %w", err)
	}
	r.until = time.UnixMilli(ms)
	if r.held, err = parseHeld(f[slices.Index(recordFields, "held")]); err != nil {
		return record{}, fmt.Errorf("read the sign-in: %w", err)
	}
	if c := field("appcap"); c != "" {
		if r.appCap, err = strconv.ParseInt(c, 10, 64); err != nil {
			return record{}, fmt.Errorf("read the sign-in: appcap: %w", err)
		}
	}
	return r, nil
}

// phaseAt is the record's phase at now: a phase whose time ran out has
// lapsed (callback.LapseOf), and when that phase ends.
func (r record) phaseAt(now time.Time, ttl time.Duration) (callback.Phase, time.Time) {
	if r.phase.Holds() && !now.Before(r.until) {
		return callback.LapseOf(r.phase, r.link != ""), r.until.Add(ttl) // PhaseExpired's end; nothing for PhaseUnknown
	}
	return r.phase, r.until
}

// charged is the app the record's bytes are charged to; "": none.
func (r record) charged() string {
	if r.appCap > 0 {
		return r.owner
	}
	return ""
}

// read is a plain read of a sign-in's record: one GET, or one per name in
// a pipeline while the encryption keys rotate (the first name that holds
// a record wins, as in step.lua). value is "" for none.
func (s *Store) read(ctx context.Context, in signIn) (value string, r record, err error) {
	if len(in.records) == 1 {
		value, err = s.client.Get(ctx, in.records[0]).Result()
		if errors.Is(err, redis.Nil) {
			return "", record{}, nil
		}
		if err != nil {
			return "", record{}, storeError("read the sign-in", err)
		}
	} else {
		pipe := s.client.Pipeline()
		cmds := make([]*redis.StringCmd, len(in.records))
		for i, key := range in.records {
			cmds[i] = pipe.Get(ctx, key)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return "", record{}, storeError("read the sign-in", err)
		}
		for _, cmd := range cmds {
			if cmd.Err() == nil {
				value = cmd.Val()
				break
			}
		}
		if value == "" {
			return "", record{}, nil
		}
	}
	r, err = parseRecord(value)
	return value, r, err
}

// registration is what a sealed registration holds: what Register was
// given, returned with the callback.
type registration struct {
	Metadata json.RawMessage `json:"metadata,omitempty"`
	Issuer   string          `json:"issuer,omitempty"`
	Link     *callback.Link  `json:"link,omitempty"` // its ID is not kept: the link's key is named by it
}

// The additional data a sealed value is bound to, so that a registration
// never opens as a callback or the other way round. The key they are
// sealed under is the state's own (seal.Sealer).
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

// newNonce names a sealed value's key: random, so that a value written by
// one attempt is never another's.
func newNonce() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// orNone is a record's field, or a script's argument, for a value that
// may be empty.
func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}
