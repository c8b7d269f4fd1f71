// Package callback holds the domain of oauth-callback-server: the Callback an
// identity provider delivers, the Store that keeps it until the MCP server
// takes it, and the errors every Store implementation returns.
package callback

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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

// Errors returned by every Store. Callers compare with errors.Is: stores may
// wrap them with detail.
var (
	// ErrNotFound: no callback was ever stored under the state, or it expired.
	ErrNotFound = errors.New("callback not found or expired")
	// ErrAlreadyTaken: the callback was stored and has been taken already.
	ErrAlreadyTaken = errors.New("callback already retrieved")
	// ErrExists: a callback for the state is stored or was taken already;
	// the first one wins and nothing is overwritten.
	ErrExists = errors.New("callback already received for this state")
	// ErrFull: the store holds as many entries as it is allowed to.
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
	// state's registration metadata if it was registered. It returns
	// ErrExists when a callback for the state is stored or was taken within
	// the TTL, ErrNotRegistered when the store requires registration and
	// there is none, ErrFull when the store is at its bound, and
	// ErrUnavailable when the store cannot be reached.
	Put(ctx context.Context, c Callback) error

	// Take returns the callback stored under state and removes it, so that
	// exactly one caller ever gets it. It returns ErrAlreadyTaken when it was
	// taken before (within the TTL), ErrNotFound when none was stored or it
	// expired, ErrUnreadable when it cannot be decoded (it is gone), and
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

// StateHash is a short, stable, non-reversible name for a state, for logs:
// enough to correlate lines, not enough to take a callback.
func StateHash(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:6])
}
