package callback

import (
	"errors"
	"time"
)

// An app is one MCP server among those sharing the service, named by its
// API tokens (OAUTH_CALLBACK_API_TOKENS, OAUTH_CALLBACK_APPS_FILE). A state
// an app registers belongs to it: Take, Status and Cancel called for
// another app answer as for an unknown state (ErrNotFound,
// PhaseUnknown), and change nothing. A callback nobody registered
// belongs to no app, and so to every one.
//
// Whose request a store call serves is an argument of the call, never
// something a context carries: a caller has to say it, and a caller that
// has nothing to say (the zero App) is refused, not let see everything.

// App is whose request a store call serves: one named app, or AnyApp when
// the service has no apps configured. The zero App is no app: every store
// call made for it fails with ErrNoApp.
type App struct {
	name string
	any  bool
}

// AnyApp is the caller of a service with no apps configured (no API
// tokens): its one MCP server, for which every state exists.
func AnyApp() App { return App{any: true} }

// AppNamed is the app called name. An empty name is the zero App.
func AppNamed(name string) App { return App{name: name} }

// ErrNoApp: a store call was made for the zero App, by a caller that lost
// track of whose request it serves. It fails closed: nothing is read or
// changed.
var ErrNoApp = errors.New("store call made for no app")

// Check returns ErrNoApp for the zero App. Stores call it first in every
// call that takes an App.
func (a App) Check() error {
	if !a.any && a.name == "" {
		return ErrNoApp
	}
	return nil
}

// IsAny reports whether a is AnyApp.
func (a App) IsAny() bool { return a.any }

// Owner is what a state a registers is owned by: its name, or "" (no
// owner, every app's) for AnyApp.
func (a App) Owner() string { return a.name }

// Sees reports whether a state owned by owner ("": registered by none)
// exists for a. The zero App sees nothing.
func (a App) Sees(owner string) bool {
	switch {
	case a.Check() != nil:
		return false
	case a.any || owner == "":
		return true
	}
	return owner == a.name
}

// String names a for logs and test failures.
func (a App) String() string {
	switch {
	case a.any:
		return "any app"
	case a.name == "":
		return "no app"
	}
	return "app " + a.name
}

// OwnerTTL is how long a store keeps a state's owner: as long as anything
// about the state may be kept. A registration lives up to registration,
// its callback then a store TTL, and the tombstone of its take another.
func OwnerTTL(registration, store time.Duration) time.Duration {
	return registration + 2*store
}
