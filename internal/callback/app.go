package callback

import (
	"context"
	"time"
)

// An app is one MCP server among those sharing the service, named by its
// API tokens (OAUTH_CALLBACK_API_TOKENS, OAUTH_CALLBACK_APPS_FILE). A state
// an app registers belongs to it: Take, Status and Cancel called for
// another app answer as for an unknown state (ErrNotFound,
// ProgressUnknown), and change nothing. A callback nobody registered
// belongs to no app, and so to every one.

type appKey struct{}

// WithApp returns ctx carrying the app a store call is made for. Stores
// read it with AppFrom.
func WithApp(ctx context.Context, app string) context.Context {
	return context.WithValue(ctx, appKey{}, app)
}

// AppFrom is the app ctx carries; "" (no app configured, or a caller of
// the store's own, like the tests) sees every state.
func AppFrom(ctx context.Context) string {
	app, _ := ctx.Value(appKey{}).(string)
	return app
}

// VisibleTo reports whether a state whose owner is owner ("" : registered
// by none) exists for app.
func VisibleTo(owner, app string) bool {
	return owner == "" || app == "" || owner == app
}

// OwnerTTL is how long a store keeps a state's owner: as long as anything
// about the state may be kept. A registration lives up to registration,
// its callback then a store TTL, and the tombstone of its take another.
func OwnerTTL(registration, store time.Duration) time.Duration {
	return registration + 2*store
}
