// Package callback holds the domain of oauth-callback-server: the Callback an
// identity provider delivers, the Store that keeps it until the MCP server
// takes it, and the errors every Store implementation returns.
package callback

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"sync"
	"time"
)

// Callback is one OAuth 2.0 authorization response, as the identity provider
// sent it to the redirect URI.
type Callback struct {
	State            string            `json:"-"` // never stored in the value: the key is derived from it
	Code             string            `json:"code,omitempty"`
	Error            string            `json:"error,omitempty"`
	ErrorDescription string            `json:"error_description,omitempty"`
	Iss              string            `json:"iss,omitempty"`
	Params           map[string]string `json:"params,omitempty"` // every other parameter the provider sent
	ReceivedAt       time.Time         `json:"received_at"`
	// Metadata is what the MCP server attached when it registered the
	// state (opaque JSON), returned with the callback; nil when none.
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// RegisteredShare is the part of a store's byte budget that only callbacks
// for registered states may use, so that a flood of made-up states cannot
// block the sign-ins an MCP server announced.
const RegisteredShare = 0.2

// Errors returned by every Store. Callers compare with errors.Is: stores may
// wrap them with detail.
var (
	// ErrNotFound: no callback was ever stored under the state, or it expired.
	ErrNotFound = errors.New("callback not found or expired")
	// ErrAlreadyTaken: the callback was stored and has been taken already.
	ErrAlreadyTaken = errors.New("callback already retrieved")
	// ErrExists: the same callback (same code, or same error) is stored or
	// was taken already, or the state is registered: a refresh or a double
	// submit. The first one is kept and nothing is overwritten.
	ErrExists = errors.New("callback already received for this state")
	// ErrConflict: a different callback arrived for a state whose first
	// callback was still pending, or the state is conflicted already.
	// Someone other than the person may have sent one of them, so nobody
	// gets either: the take answers ErrConflict too.
	ErrConflict = errors.New("conflicting callbacks received for this state")
	// ErrConflictAfterTake: a different callback arrived after the first one
	// was taken. The taken one cannot be recalled; the event is refused and
	// reported.
	ErrConflictAfterTake = errors.New("a different callback arrived after the first was taken")
	// ErrFull: the store holds as many entries or bytes as it is allowed
	// to (or Redis refused the write: out of memory).
	ErrFull = errors.New("callback store is full")
	// ErrUnavailable: the store could not be reached in time. Retrying later
	// may succeed.
	ErrUnavailable = errors.New("callback store unavailable")
	// ErrNotRegistered: registration is required and the state was never
	// registered, or its registration expired.
	ErrNotRegistered = errors.New("state not registered or registration expired")
	// ErrNotReplicated: the callback was stored on the primary, but not as
	// many replicas as required acknowledged it in time: a failover now could
	// lose it, so the person is asked to start again.
	ErrNotReplicated = errors.New("callback not acknowledged by enough replicas")
	// ErrUnreadable: a stored callback was found but cannot be read (written
	// under another encryption key, or corrupted). It is gone either way.
	ErrUnreadable = errors.New("stored callback cannot be read")
)

// Store keeps callbacks under their state for a fixed time to live and hands
// each one out exactly once, even to concurrent callers on many replicas.
type Store interface {
	// Register announces a state before the person signs in, for ttl, with
	// opaque metadata to return with its callback. It returns ErrExists when
	// the state is registered, or has a callback stored or taken, ErrFull
	// and ErrUnavailable as Put.
	Register(ctx context.Context, state string, ttl time.Duration, metadata json.RawMessage) error

	// Put stores c under c.State until the store's TTL runs out, with the
	// state's registration metadata if it was registered, and reports
	// whether the state was registered. It returns ErrExists when the same
	// callback (see Fingerprint) is stored or was taken within the TTL,
	// ErrConflict when a different one is pending (the state becomes
	// conflicted: neither is ever handed out) or the state is conflicted,
	// ErrConflictAfterTake when a different one was taken, ErrNotRegistered
	// when the store requires registration and there is none, ErrFull when
	// the store is at its bound (entries or bytes; unregistered states may
	// not use the share of the bytes kept for registered ones), and
	// ErrUnavailable when the store cannot be reached.
	Put(ctx context.Context, c Callback) (registered bool, err error)

	// Take returns the callback stored under state and removes it, so that
	// exactly one caller ever gets it. It returns ErrAlreadyTaken when it was
	// taken before (within the TTL), ErrConflict when the state is
	// conflicted, ErrNotFound when none was stored or it expired,
	// ErrUnreadable when it cannot be decoded (it is gone), and
	// ErrUnavailable when the store cannot be reached.
	Take(ctx context.Context, state string) (Callback, error)

	// Pending counts callbacks stored and neither taken nor expired, across
	// every replica sharing the store. It returns ErrUnavailable when the
	// store cannot be reached.
	Pending(ctx context.Context) (int64, error)

	// Ping reports whether the store can serve requests; ErrUnavailable if not.
	Ping(ctx context.Context) error

	// Close releases the store's resources. The store must not be used after.
	Close() error
}

// Notifier is implemented by stores that can tell long-poll waiters that a
// callback arrived, on whichever replica it landed.
type Notifier interface {
	// Subscribe returns a channel that receives when a callback for state may
	// have been stored, and a cancel func to call when done waiting. A
	// wake-up means "take again": it may be spurious, and several may arrive
	// as one. Subscribe before the first Take, so that a callback stored in
	// between is not missed.
	Subscribe(state string) (wake <-chan struct{}, cancel func())
}

// StateHasher names states in logs: a short, stable, non-reversible name,
// enough to correlate lines, not enough to take a callback. With a server
// secret it is an HMAC, so that even a short state cannot be recovered from
// a log line by trying candidates. Its zero value hashes without a secret.
type StateHasher struct{ macs *sync.Pool }

// NewStateHasher returns a StateHasher keyed with secret (may be empty).
func NewStateHasher(secret []byte) StateHasher {
	key := append([]byte("oauth-callback-server/state-hash\x00"), secret...)
	// Every request names its state: the keyed HMACs are reused.
	return StateHasher{macs: &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
}

var unkeyedStateHasher = NewStateHasher(nil)

// Hash is the state's name for logs: 12 hex digits.
func (h StateHasher) Hash(state string) string {
	if h.macs == nil {
		h = unkeyedStateHasher
	}
	m := h.macs.Get().(hash.Hash)
	defer h.macs.Put(m)
	m.Reset()
	m.Write([]byte(state))
	var sum [sha256.Size]byte
	return hex.EncodeToString(m.Sum(sum[:0])[:6])
}

// Fingerprint tells two callbacks for one state apart without keeping the
// code in the clear: same code and same error, same fingerprint. It is keyed
// with the state, so stores may keep it next to the sealed value: without
// the state it says nothing, and it does not depend on the server secret,
// so replicas in the middle of a key rotation agree on it.
func Fingerprint(c Callback) string {
	m := hmac.New(sha256.New, []byte(c.State))
	m.Write([]byte("fingerprint\x00"))
	m.Write([]byte(c.Code))
	m.Write([]byte{0})
	m.Write([]byte(c.Error))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// Encode is the stored form of a callback: JSON without HTML escaping, so
// that a value full of < > & takes as many bytes in the store as it took on
// the wire (json.Marshal would grow each to six).
func Encode(c Callback) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Size is what a callback counts against OAUTH_CALLBACK_MAX_CALLBACK_BYTES:
// the bytes of everything the provider sent that is kept (code, error,
// description, iss, and every other parameter, names included). The state
// is not counted: it has its own limit.
func (c Callback) Size() int {
	n := len(c.Code) + len(c.Error) + len(c.ErrorDescription)
	for name, v := range c.Params { // iss is one of them
		n += len(name) + len(v)
	}
	if _, ok := c.Params["iss"]; !ok {
		n += len(c.Iss)
	}
	return n
}
