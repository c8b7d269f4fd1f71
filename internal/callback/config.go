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
	// AppShares are the apps' shares of MaxBytes (apps.MemoryShares): what
	// an app's sign-ins (its registrations, and the callbacks and
	// tombstones of its registered states) may hold, so that one app's
	// flood leaves the others' sign-ins working. An app not in it has no
	// bound of its own.
	AppShares map[string]float64
}

// AppBudget is what app's sign-ins may hold of the byte budget: in all,
// and in registrations (its share of RegistrationShare). ok is false when
// the app has no bound of its own (or there is no budget).
func (c StoreConfig) AppBudget(app string) (total, registrations int64, ok bool) {
	share, ok := c.AppShares[app]
	if !ok || app == "" || c.MaxBytes <= 0 {
		return 0, 0, false
	}
	return int64(float64(c.MaxBytes) * share), int64(float64(c.MaxBytes) * share * RegistrationShare), true
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
