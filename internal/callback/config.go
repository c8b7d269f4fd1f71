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
	// AppShares are the apps' shares (apps.MemoryShares, adding up to 1
	// at most) of what only registered sign-ins may use (RegisteredPool,
	// AppBudget). What an app is promised is then its
	// own, whatever the other apps and the anonymous callbacks hold, so
	// that one app's flood leaves the others' sign-ins working. An app not
	// in it has no bound of its own.
	AppShares map[string]float64
}

// AppBudget is what app's sign-ins may hold, and are promised, of the
// byte budget: in all (its share of RegisteredPool: its registrations,
// and the callbacks and tombstones of its registered states), and in
// registrations (its share of RegistrationShare). ok is false when the app
// has no bound of its own (or there is no budget). The promise holds
// because the shares add up to 1 at most and callbacks of unregistered
// states never hold more than UnregisteredShare.
func (c StoreConfig) AppBudget(app string) (total, registrations int64, ok bool) {
	share, ok := c.AppShares[app]
	if !ok || app == "" || c.MaxBytes <= 0 {
		return 0, 0, false
	}
	budget := float64(c.MaxBytes)
	return int64(budget * c.RegisteredPool() * share), int64(budget * RegistrationShare * share), true
}

// RegisteredPool is the part of the budget only registered sign-ins may
// use, which the apps' shares divide: all but the unregistered states'
// share, or all of it when registration is required (no callback of an
// unregistered state is then stored).
func (c StoreConfig) RegisteredPool() float64 {
	if c.RequireRegistration {
		return 1
	}
	return 1 - UnregisteredShare
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
