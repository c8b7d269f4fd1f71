// Package httpapi is the HTTP face of the service: routes.go lists every
// endpoint, handle_*.go answer them, errors.go maps store errors to status
// codes in one table.
package httpapi

import (
	"go.opentelemetry.io/otel/trace"

	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/cors"
	"github.com/go-chi/httprate"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/metrics"
	"github.com/oauth-callback-server/oauth-callback-server/internal/page"
)

// Options are the settings of the HTTP handler. A zero field is its
// default, except MaxWait and MaxWaiters, whose zero turns long-poll off
// (a server that grants no wait, like the original service).
type Options struct {
	// StoreTimeout bounds every store call a request makes; past it the
	// request gets a 503. Zero sets no deadline: for stores that never
	// block, like the memory store, where it would only cost time.
	StoreTimeout time.Duration
	// CORSOrigins may call the JSON endpoints from a browser; default "*".
	CORSOrigins []string
	// Draining, once closed, turns /readyz to 503 so that load balancers
	// stop sending new requests, and answers every long-poll waiter. May be
	// nil.
	Draining <-chan struct{}
	// MaxWait caps the long-poll wait a client may ask for; 0 turns
	// long-poll off. MaxWaiters bounds the long-polls held at once; past it,
	// requests are answered at once like plain polls.
	MaxWait    time.Duration
	MaxWaiters int
	// WriteTimeout is the server's; a long-poll extends its own deadline by
	// its wait on top of it. Default 15 s.
	WriteTimeout time.Duration
	// ServeMetrics adds GET /metrics to this handler (off when metrics have
	// a listener of their own).
	ServeMetrics bool
	// TTL is the store's time to live: the default and the maximum TTL of a
	// registration. Default 10 minutes.
	TTL time.Duration
	// APITokens, when set, are required (Authorization: Bearer) on every
	// /api route.
	APITokens []string
	// RateLimitCallback and RateLimitAPI are requests per minute per client
	// IP on /callback, and per token (or IP) on /api; 0 is no limit.
	RateLimitCallback int
	RateLimitAPI      int
	// RateLimitRegister is registrations per minute per token (or client
	// network), beside RateLimitAPI; 0 is no limit. The registrations'
	// share of the byte budget bounds them all together.
	RateLimitRegister int
	// TrustedProxies may set X-Forwarded-For for the client IP.
	TrustedProxies []netip.Prefix
	// StateMinLength refuses shorter states (400); default 1.
	StateMinLength int
	// MaxCallbackBytes bounds what one callback may store (code, error,
	// description and every other parameter, as callback.Size counts them:
	// as stored); above it, 413. Default 16 KiB.
	MaxCallbackBytes int
	// StateHasher names states in logs; default: no server secret.
	StateHasher callback.StateHasher
	// RecheckInterval is how often a waiting long-poll looks again, in case
	// a wake-up was lost; default 5 s. Tests set it out of reach, so that
	// only a wake-up can deliver.
	RecheckInterval time.Duration
	// MemoryNearLimit reports whether the process nears its memory limit;
	// new long-polls are then answered at once. Nil: never.
	MemoryNearLimit func() bool
	// PublicURL is the service's public base URL, without a trailing
	// slash: sign-in links start there, and a registered redirect_uri
	// must be its /callback.
	PublicURL string
	// AuthorizeHosts turns sign-in links on: the hosts an authorization_url
	// may point to. ReturnHosts: those a return_url may point to.
	AuthorizeHosts []string
	ReturnHosts    []string
	// ReturnRedirect sends the browser to the return_url (303) once the
	// callback is stored, instead of offering a link.
	ReturnRedirect bool
	// BindingSecrets key the sign-in links' browser binding: the first
	// makes cookies, every one is accepted. Required with AuthorizeHosts.
	BindingSecrets [][]byte
	// TracerProvider, when set, traces every request and store operation
	// (internal/tracing makes one from the OTEL_* variables); nil: off.
	TracerProvider trace.TracerProvider
	// Pages renders the callback page, as the operator customised it
	// (page.New checks the templates at start-up); nil is the built-in page.
	Pages *page.Renderer
}

type server struct {
	store        callback.Store
	notifier     callback.Notifier // nil when the store cannot wake waiters
	log          *slog.Logger
	metrics      *metrics.Metrics
	storeTimeout time.Duration
	writeTimeout time.Duration
	maxWait      time.Duration
	maxWaiters   int
	waiters      atomic.Int64
	draining     <-chan struct{}
	serveMetrics bool
	cors         func(http.Handler) http.Handler

	ttl               time.Duration
	tokenDigests      [][sha256.Size]byte
	rateLimitCallback int
	rateLimitAPI      int
	rateLimitRegister int
	trustedProxies    []netip.Prefix
	stateMinLength    int
	maxCallbackBytes  int
	stateHash         callback.StateHasher
	memoryNearLimit   func() bool
	recheck           time.Duration
	pages             *page.Renderer
	router            http.Handler
	fullWarning       onceAMinute
	tokenFailures     *httprate.RateLimiter // wrong or missing tokens per client IP; nil: no limit

	publicURL      string
	authorizeHosts []string
	returnHosts    []string
	returnRedirect bool
	binding        browserBinding
	tracer         trace.Tracer // nil: tracing off
}

// NewServer returns the service's HTTP handler: the routes of routes.go on
// store, logging to log and recording to m. The three are required; a nil
// one is a programming error, not a setting, and panics here rather than
// on the first request.
func NewServer(store callback.Store, log *slog.Logger, m *metrics.Metrics, opts Options) http.Handler {
	switch {
	case store == nil:
		panic("httpapi: NewServer needs a Store")
	case log == nil:
		panic("httpapi: NewServer needs a Logger")
	case m == nil:
		panic("httpapi: NewServer needs Metrics")
	}
	s := &server{
		store:        store,
		log:          log,
		metrics:      m,
		storeTimeout: opts.StoreTimeout,
		writeTimeout: opts.WriteTimeout,
		maxWait:      opts.MaxWait,
		maxWaiters:   opts.MaxWaiters,
		draining:     opts.Draining,
		serveMetrics: opts.ServeMetrics,

		ttl:               opts.TTL,
		rateLimitCallback: opts.RateLimitCallback,
		rateLimitAPI:      opts.RateLimitAPI,
		rateLimitRegister: opts.RateLimitRegister,
		trustedProxies:    opts.TrustedProxies,
		stateMinLength:    max(opts.StateMinLength, 1),
		maxCallbackBytes:  opts.MaxCallbackBytes,
		stateHash:         opts.StateHasher,
		memoryNearLimit:   opts.MemoryNearLimit,
		recheck:           opts.RecheckInterval,

		publicURL:      strings.TrimSuffix(opts.PublicURL, "/"),
		authorizeHosts: opts.AuthorizeHosts,
		returnHosts:    opts.ReturnHosts,
		returnRedirect: opts.ReturnRedirect,
		binding:        newBrowserBinding(opts.BindingSecrets),
	}
	if len(s.authorizeHosts) > 0 && (s.publicURL == "" || len(opts.BindingSecrets) == 0) {
		panic("httpapi: sign-in links (AuthorizeHosts) need a PublicURL and BindingSecrets")
	}
	if s.recheck <= 0 {
		s.recheck = defaultRecheck
	}
	if s.memoryNearLimit == nil {
		s.memoryNearLimit = func() bool { return false }
	}
	if s.maxCallbackBytes <= 0 {
		s.maxCallbackBytes = 16 << 10
	}
	if s.ttl <= 0 {
		s.ttl = 10 * time.Minute
	}
	s.pages = opts.Pages
	if s.pages == nil {
		s.pages = builtinPages()
	}
	// page.New has rendered every template once already, so these cannot
	// fail but through a bug.
	if err := s.pages.Prerender(successPage); err != nil {
		panic(fmt.Sprintf("httpapi: callback pages: %v", err))
	}
	for _, t := range opts.APITokens {
		s.tokenDigests = append(s.tokenDigests, sha256.Sum256([]byte(t)))
	}
	if len(s.tokenDigests) > 0 && s.rateLimitAPI > 0 {
		s.tokenFailures = httprate.NewRateLimiter(s.rateLimitAPI, time.Minute)
	}
	s.notifier, _ = store.(callback.Notifier)
	if opts.TracerProvider != nil {
		s.tracer = opts.TracerProvider.Tracer(tracerName)
	}
	if s.writeTimeout <= 0 {
		s.writeTimeout = 15 * time.Second
	}
	if s.draining == nil {
		s.draining = make(chan struct{}) // never closed
	}
	origins := opts.CORSOrigins
	if len(origins) == 0 {
		origins = []string{"*"}
	}
	s.cors = cors.Handler(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet, http.MethodPut, http.MethodDelete},
		AllowedHeaders: []string{"Authorization", "Content-Type", "Prefer"},
		ExposedHeaders: []string{"Preference-Applied", "X-Request-Id"},
		MaxAge:         600,
	})

	r := chi.NewRouter()
	r.Use(s.noteRoute, s.recoverPanics)
	addRoutes(r, s)
	s.router = r
	return s
}
