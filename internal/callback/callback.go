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
	"math"
	"strings"
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
	// Issuer is the issuer the state's registration named, returned by
	// Take: Put refused a callback whose Iss differed (RFC 9207). Not part
	// of the stored value; empty when the registration named none.
	Issuer string `json:"-"`
	// Bound: the browser that delivered the callback carries the binding
	// cookie of the state's sign-in link. Checked by the caller, never
	// stored; a state registered with a link refuses a callback without it.
	Bound bool `json:"-"`
}

// The kinds of callback: the ordinary redirect of an authorization-code
// flow, and Microsoft Entra ID's admin consent, which carries admin_consent,
// tenant and scope instead of a code.
const (
	KindAuthorizationCode = "authorization_code"
	KindAdminConsent      = "admin_consent"
)

// Kind is the flow c came back from: KindAdminConsent when the provider
// sent admin_consent (Entra's admin-consent endpoint, granted or not),
// KindAuthorizationCode otherwise.
func (c Callback) Kind() string {
	if _, ok := c.Params["admin_consent"]; ok {
		return KindAdminConsent
	}
	return KindAuthorizationCode
}

// GrantsAdminConsent reports whether c is an admin consent that was granted:
// admin_consent=True (Entra writes True; any case is taken) and no error.
// Such a callback has no code, and needs none.
func (c Callback) GrantsAdminConsent() bool {
	return c.Error == "" && strings.EqualFold(c.Params["admin_consent"], "true")
}

// Registration is what an MCP server announces before the person signs in.
type Registration struct {
	// TTL is how long the registration lives; zero, or above the store's
	// TTL, is the store's.
	TTL time.Duration
	// Metadata is returned with the callback (opaque JSON); nil when none.
	Metadata json.RawMessage
	// Link, when set, is a sign-in link: the callback is then accepted only
	// from the browser that opened it (Callback.Bound).
	Link *Link
	// Issuer, when set, is the authorization server the sign-in is
	// expected to come back from (RFC 9207): a callback whose iss is
	// present and differs is refused (ErrIssuerMismatch).
	Issuer string
}

// Link is a sign-in link for MCP URL elicitation: /start/{ID} sends the
// browser to AuthorizationURL and binds it to the state.
type Link struct {
	// ID is random (128 bits or more) and is not the state. Not part of
	// the encoded link: stores keep it as the key that finds the state.
	ID               string `json:"-"`
	AuthorizationURL string `json:"authorization_url"`
	// ReturnURL is where the person goes back to once the callback is
	// stored; empty when none.
	ReturnURL string `json:"return_url,omitempty"`
}

// Receipt is what Put reports about the state a stored callback belongs to.
type Receipt struct {
	// Registered: the state was registered before its callback arrived.
	Registered bool
	// ReturnURL is the sign-in link's way back; empty when none.
	ReturnURL string
}

// Status is a state's phase (see phase.go) and when it ends: when what
// the state holds expires (zero for PhaseUnknown).
type Status struct {
	Phase     Phase
	ExpiresAt time.Time
}

// The byte budget (OAUTH_CALLBACK_MAX_MEMORY) in shares, the same on every
// store. Registrations may hold RegistrationShare of it, and callbacks of
// unregistered states UnregisteredShare: so neither a flood of made-up
// states on /callback nor one of registrations on the API, nor both at
// once, can take RegisteredShare from the callbacks of registered states,
// the sign-ins an MCP server announced. A registration's bytes pass to its
// callback when it arrives.
const (
	RegisteredShare   = 0.2
	RegistrationShare = 0.2
	UnregisteredShare = 1 - RegisteredShare - RegistrationShare
)

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
	// ErrCancelled: the MCP server cancelled the sign-in (Cancel); its
	// callback is refused and a take answers this.
	ErrCancelled = errors.New("sign-in cancelled")
	// ErrUnbound: the state was registered with a sign-in link and the
	// callback did not come from the browser that opened it.
	ErrUnbound = errors.New("sign-in not started in this browser")
	// ErrLinkExpired: the state was registered with a sign-in link whose
	// registration ended with no callback. For a store TTL after that, a
	// take answers this and a callback is refused: ErrUnbound when it does
	// not come from the browser that opened the link (a forwarded
	// authorization URL must never succeed once the link is gone), this
	// when it does.
	ErrLinkExpired = errors.New("sign-in link expired")
	// ErrIssuerMismatch: the state was registered with an Issuer and the
	// callback's iss is another (RFC 9207: a mix-up attack, or the wrong
	// tenant). Nothing is stored or changed: the state waits for the real
	// callback.
	ErrIssuerMismatch = errors.New("callback from another issuer than the registration named")
)

// LinkMarkerTTL is how long a state registered with a sign-in link keeps
// refusing unbound callbacks: its registration's TTL and then a store TTL,
// as long as anything about the state may be kept.
func LinkMarkerTTL(registration, store time.Duration) time.Duration {
	return registration + store
}

// Store keeps callbacks under their state for a fixed time to live and hands
// each one out exactly once, even to concurrent callers on many replicas.
//
// Register, Take, Status and Cancel are made for an App, whose request
// they serve (see app.go): a state belongs to the app that registered it
// for as long as anything about it is kept, and Take, Status and Cancel
// made for another app answer exactly as for an unknown state and change
// nothing. Each returns ErrNoApp for the zero App, and changes nothing.
// Put and Start serve the person's browser, which belongs to no app: they
// act on whichever app's state the callback or link is for.
type Store interface {
	// Register announces a state before the person signs in. Its answers,
	// as Take's and Put's, are the state machine's (Transitions in
	// phase.go, with its guards in the order listed there): ErrExists
	// when the state is known already, ErrFull past the budget,
	// ErrUnavailable when the store cannot be reached.
	Register(ctx context.Context, app App, state string, r Registration) error

	// Start opens the sign-in link id: it returns the state and link, and
	// whether this is the first time the link was opened (the caller then
	// binds the browser). It returns ErrNotFound when the link is unknown,
	// expired, cancelled, or used (the state has a callback).
	Start(ctx context.Context, id string) (state string, link Link, first bool, err error)

	// Put stores c under c.State until the store's TTL runs out, with the
	// state's registration metadata if it was registered, and reports
	// whether the state was registered, and its link's return URL. A
	// refused callback changes nothing, except that a second, different
	// one conflicts the state (ErrConflict). Which error, in which order:
	// Guard, then Transitions (phase.go); ErrUnavailable when the store
	// cannot be reached.
	Put(ctx context.Context, c Callback) (Receipt, error)

	// Take returns the callback stored under state and removes it, so that
	// exactly one caller ever gets it; otherwise the table's error for the
	// state's phase (ErrNotFound, ErrAlreadyTaken, ErrConflict,
	// ErrCancelled, ErrLinkExpired), ErrUnreadable when the callback
	// cannot be decoded (it is gone), ErrUnavailable.
	Take(ctx context.Context, app App, state string) (Callback, error)

	// Status reports where the state stands, without handing anything out.
	// It returns ErrUnavailable when the store cannot be reached.
	Status(ctx context.Context, app App, state string) (Status, error)

	// Cancel discards the state's registration and pending callback, and
	// leaves a tombstone for the TTL, so that a later callback or take
	// answers ErrCancelled. Cancelling twice is not an error. It returns
	// ErrNotFound when the state is unknown, ErrAlreadyTaken or ErrConflict
	// when its sign-in is over already, and ErrUnavailable.
	Cancel(ctx context.Context, app App, state string) error

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
	// as one. The channel receives once as soon as the subscription is
	// active (at once, or after a round trip to Redis): a callback stored
	// before that may have been missed, so the subscriber looks then. A
	// subscriber may therefore look first and subscribe after.
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
// its bytes as stored (Encode) beyond those of an empty callback received
// at the same time. Every store's byte budget counts the stored bytes, so
// the budget charges Size plus a cost that does not depend on what the
// provider sent. Counting the raw bytes instead let a callback of escaped
// characters (a quote, a line break, U+2028) cost up to six times its size
// in the budget. The state is not in it: it has its own limit; neither is
// the metadata, which the registration counts.
func (c Callback) Size() int {
	c.Metadata = nil
	b, err := Encode(c)
	if err != nil {
		return math.MaxInt // cannot be stored at any size
	}
	// The empty callback is {"received_at":"<RFC 3339, nanoseconds>"}:
	// counted, not encoded, since Size runs for every callback received.
	return len(b) - (len(`{"received_at":""}`) + len(c.ReceivedAt.Format(time.RFC3339Nano)))
}
