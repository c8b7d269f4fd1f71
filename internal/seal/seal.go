// Package seal keeps callbacks unreadable at rest: each value is encrypted
// with AES-256-GCM under a key derived (HKDF-SHA-256) from its state, mixed
// with an optional server secret, and stored under a keyed hash of the
// state. A dump of Redis, or MONITOR, shows neither a code nor a state; to
// read a value one needs its state (256 random bits in the field client) and,
// when one is set, the server secret.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// version is the first byte of every sealed value, so the format can change
// later without misreading old values.
const version byte = 1

// domain separates this project's keys from any other use of the same
// secret, and stands in for the server secret when there is none.
const domain = "oauth-callback-server/seal/v1"

// ErrOpen means a sealed value could not be opened: written under another
// server secret, for another key, corrupted, or in an unknown format.
var ErrOpen = errors.New("sealed value cannot be opened")

// Sealer seals and opens values. Its zero value is not usable; use New.
type Sealer struct {
	secrets [][]byte // the first seals and names; every one opens
	// namers hold a keyed HMAC per secret, reused: every request names
	// its state, and a fresh HMAC costs two SHA-256 states of garbage.
	namers []*sync.Pool
}

// New returns a Sealer mixing a server secret into every key. With several
// (a key rotation), the first seals new values and names new entries, and
// every one is tried when opening. No secret, or an empty one, is allowed:
// keys then derive from the state alone.
func New(serverSecrets ...[]byte) *Sealer {
	s := &Sealer{}
	for _, secret := range serverSecrets {
		s.secrets = append(s.secrets, append([]byte(domain), secret...))
	}
	if len(s.secrets) == 0 {
		s.secrets = [][]byte{[]byte(domain)}
	}
	for _, secret := range s.secrets {
		s.namers = append(s.namers, &sync.Pool{New: func() any { return hmac.New(sha256.New, secret) }})
	}
	return s
}

// Name is the keyed hash under which a state's new entries are stored: 64
// hex digits that reveal nothing about the state without the server secret.
func (s *Sealer) Name(state string) string { return name(s.namers[0], state) }

// Names are the state's names under every secret, the current one first:
// where its entries may be while a rotation is under way.
func (s *Sealer) Names(state string) []string {
	names := make([]string, len(s.namers))
	for i, namer := range s.namers {
		names[i] = name(namer, state)
	}
	return names
}

func name(namer *sync.Pool, state string) string {
	m := namer.Get().(hash.Hash)
	defer namer.Put(m)
	m.Reset()
	m.Write([]byte("name\x00"))
	m.Write([]byte(state))
	var sum [sha256.Size]byte
	return hex.EncodeToString(m.Sum(sum[:0]))
}

// Seal encrypts plaintext for state under the current secret. aad binds
// the value to where it is stored (its key), so values cannot be swapped
// between keys.
func (s *Sealer) Seal(state string, plaintext, aad []byte) ([]byte, error) {
	aead, err := aead(s.secrets[0], state)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := make([]byte, 0, 1+len(nonce)+len(plaintext)+aead.Overhead())
	out = append(append(out, version), nonce...)
	return aead.Seal(out, nonce, plaintext, aad), nil
}

// Open decrypts a value sealed for state with the same aad, under any of
// the secrets. It returns ErrOpen for anything it cannot open, never a panic.
func (s *Sealer) Open(state string, sealed, aad []byte) ([]byte, error) {
	var err error
	for _, secret := range s.secrets {
		var plaintext []byte
		if plaintext, err = open(secret, state, sealed, aad); err == nil {
			return plaintext, nil
		}
	}
	return nil, err
}

func open(secret []byte, state string, sealed, aad []byte) ([]byte, error) {
	aead, err := aead(secret, state)
	if err != nil {
		return nil, err
	}
	if len(sealed) < 1+aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrOpen, len(sealed))
	}
	if sealed[0] != version {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrOpen, sealed[0])
	}
	nonce, ciphertext := sealed[1:1+aead.NonceSize()], sealed[1+aead.NonceSize():]
	plaintext, err := aead.Open(nil, nonce, ciphertext, aad)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOpen, err)
	}
	return plaintext, nil
}

func aead(secret []byte, state string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, []byte(state), secret, "value", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
