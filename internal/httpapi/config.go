package httpapi

import (
	"net/netip"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/oauth-callback-server/oauth-callback-server/internal/apps"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/page"
)

// Config is the HTTP API's settings, as config.Load reads them from the
// OAUTH_CALLBACK_* variables (docs/configuration.md names each field's).
// DefaultConfig holds every default; the server keeps Config as given.
type Config struct {
	// CORSOrigins may call the JSON endpoints from a browser.
	CORSOrigins []string
	// Apps are the MCP servers sharing the service, with their tokens and
	// limits (apps.Resolve reads them from OAUTH_CALLBACK_API_TOKENS and
	// _APPS_FILE). With any, every /api route requires one of their tokens
	// (Authorization: Bearer); none: the API is open.
	Apps []apps.App
	// TrustedProxies may set X-Forwarded-For for the client IP.
	TrustedProxies []netip.Prefix
	// StateMinLength refuses shorter states (400).
	StateMinLength int
	// MaxCallbackBytes bounds what one callback may store (code, error,
	// description and every other parameter, as callback.Size counts
	// them: as stored); above it, 413.
	MaxCallbackBytes int

	// The http.Server's timeouts. A long-poll extends its own write
	// deadline by its wait on top of WriteTimeout.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration

	LongPoll    LongPollConfig
	RateLimits  RateLimits
	SignInLinks SignInLinksConfig
}

// LongPollConfig is long-poll (?wait=, Prefer: wait=).
type LongPollConfig struct {
	// MaxWait caps the wait a client may ask for; 0 turns long-poll off.
	MaxWait time.Duration
	// MaxWaiters bounds the long-polls held at once; past it, requests are
	// answered at once like plain polls. 0 holds none.
	MaxWaiters int
	// Recheck bounds how long a waiter can miss a wake-up (Redis pub/sub
	// delivers at most once): it looks again at least this often. Tests set it out of reach, so that only a wake-up
	// can deliver.
	Recheck time.Duration
}

// RateLimits are requests per minute; 0 is no limit.
type RateLimits struct {
	// Callback: per client IP on /callback.
	Callback int
	// API: per token (or client IP) on /api.
	API int
	// Register: registrations per token (or client network), beside API.
	// The registrations' share of the byte budget bounds them all
	// together.
	Register int
	// Shared: on a store that is a SharedLimiter (Redis), count the limits
	// for every replica together, so that N replicas admit the limit, not
	// N times it. Off: each replica counts alone.
	Shared bool
}

// SignInLinksConfig is the sign-in links (MCP URL elicitation): off unless
// AuthorizeHosts is set.
type SignInLinksConfig struct {
	// PublicURL is the service's public base URL, without a trailing
	// slash: sign-in links start there, and a registered redirect_uri must
	// be its /callback.
	PublicURL string
	// AuthorizeHosts turns sign-in links on: the hosts an
	// authorization_url may point to. ReturnHosts: those a return_url may
	// point to.
	AuthorizeHosts []string
	ReturnHosts    []string
	// ReturnRedirect sends the browser to the return_url (303) once the
	// callback is stored, instead of offering a link.
	ReturnRedirect bool
}

// DefaultConfig is the HTTP API's configuration when nobody sets one: the
// original service's behaviour (an open API, any state), with long-poll and
// per-replica rate limits on.
func DefaultConfig() Config {
	return Config{
		CORSOrigins:       []string{"*"},
		StateMinLength:    1,
		MaxCallbackBytes:  16 << 10,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		LongPoll:          LongPollConfig{MaxWait: 60 * time.Second, MaxWaiters: 10_000, Recheck: 5 * time.Second},
		RateLimits:        RateLimits{Callback: 60, API: 1200, Register: 300, Shared: true},
	}
}

// withDefaults fills what a caller that sets only what it tests (a test, a
// benchmark) leaves zero and cannot mean zero, from DefaultConfig. Zero
// limits, a zero MaxWait and zero MaxWaiters stay: they turn the feature
// off.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if len(c.CORSOrigins) == 0 {
		c.CORSOrigins = d.CORSOrigins
	}
	if c.StateMinLength <= 0 {
		c.StateMinLength = d.StateMinLength
	}
	if c.MaxCallbackBytes <= 0 {
		c.MaxCallbackBytes = d.MaxCallbackBytes
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.LongPoll.Recheck <= 0 {
		c.LongPoll.Recheck = d.LongPoll.Recheck
	}
	return c
}

// Options are what NewServer is given beside the store: the settings, and
// what the process provides at run time.
type Options struct {
	Config

	// StoreTTL is the store's time to live: the default and the longest
	// TTL of a registration, and the life of a sign-in link's binding.
	// Zero is callback.DefaultTTL.
	StoreTTL time.Duration
	// StoreTimeout bounds every store call a request makes; past it the
	// request gets a 503. Zero sets no deadline: for stores that never
	// block, like the memory store, where it would only cost time.
	StoreTimeout time.Duration
	// Draining, once closed, turns /readyz to 503 so that load balancers
	// stop sending new requests, and answers every long-poll waiter. May be
	// nil.
	Draining <-chan struct{}
	// ServeMetrics adds GET /metrics to this handler (off when metrics have
	// a listener of their own).
	ServeMetrics bool
	// StateHasher names states in logs; default: no server secret.
	StateHasher callback.StateHasher
	// BindingSecrets are the server secrets (OAUTH_CALLBACK_ENCRYPTION_KEY):
	// they key the sign-in links' browser binding (the first makes cookies,
	// every one is accepted) and name the shared rate-limit counts (every
	// one, see sharedLimitNames). Required with AuthorizeHosts.
	BindingSecrets [][]byte
	// MemoryNearLimit reports whether the process nears its memory limit;
	// new long-polls are then answered at once. Nil: never.
	MemoryNearLimit func() bool
	// TracerProvider, when set, traces every request and store operation
	// (internal/tracing makes one from the OTEL_* variables); nil: off.
	TracerProvider trace.TracerProvider
	// Pages renders the callback page, as the operator customised it
	// (page.New checks the templates at start-up); nil is the built-in page.
	Pages *page.Renderer
}
