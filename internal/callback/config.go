package callback

import "time"

// StoreConfig is what every Store is configured with, whichever it is
// (OAUTH_CALLBACK_TTL, _MAX_MEMORY and _REQUIRE_REGISTRATION).
type StoreConfig struct {
	// TTL is how long a callback, and the tombstone of a taken one, lives;
	// the longest a registration may ask for. Whole seconds on Redis.
	TTL time.Duration
	// MaxBytes is the byte budget of callbacks and registrations held at
	// once; past it Put and Register return ErrFull. Its shares are
	// RegisteredShare, RegistrationShare and UnregisteredShare. 0: none.
	MaxBytes int64
	// RequireRegistration makes Put refuse callbacks for states that were
	// not registered (ErrNotRegistered).
	RequireRegistration bool
}

// DefaultTTL is the original service's ten minutes.
const DefaultTTL = 10 * time.Minute

// DefaultStoreConfig is the configuration of a store nobody configured.
func DefaultStoreConfig() StoreConfig {
	return StoreConfig{TTL: DefaultTTL, MaxBytes: 64 << 20}
}

// WithDefaults gives a zero TTL the default one, for callers (tests,
// benchmarks) that set only what they test. A zero MaxBytes stays: no
// budget.
func (c StoreConfig) WithDefaults() StoreConfig {
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	return c
}
