// Package httpapi is the HTTP face of the service: routes.go lists every
// endpoint, handle_*.go answer them, and errors.go answers every refusal,
// the store's and the request's, from one table.
package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/cors"
	"github.com/go-chi/httprate"
	"go.opentelemetry.io/otel/trace"

	"github.com/oauth-callback-server/oauth-callback-server/internal/apps"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/metrics"
)

type server struct {
	opts Options // as given, with the zeros that cannot mean zero filled (withDefaults and NewServer)

	store    callback.Store
	notifier callback.Notifier // nil when the store cannot wake waiters
	log      *slog.Logger
	metrics  *metrics.Metrics
	waiters  atomic.Int64
	cors     func(http.Handler) http.Handler

	tokens        []apps.Token // every app's; none: the API is open
	router        http.Handler
	fullWarning   onceAMinute
	tokenFailures *httprate.RateLimiter // wrong or missing tokens per client IP; nil: no limit

	sharedLimits       SharedLimiter // nil: limits per replica (see rateLimit)
	localLimitsUntil   atomic.Int64  // unix nanoseconds: count per replica until then
	localLimitsWarning onceAMinute

	binding browserBinding
	tracer  trace.Tracer // nil: tracing off
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
	opts.Config = opts.Config.withDefaults()
	opts.SignInLinks.PublicURL = strings.TrimSuffix(opts.SignInLinks.PublicURL, "/")
	if len(opts.SignInLinks.AuthorizeHosts) > 0 && (opts.SignInLinks.PublicURL == "" || len(opts.BindingSecrets) == 0) {
		panic("httpapi: sign-in links (AuthorizeHosts) need a PublicURL and BindingSecrets")
	}
	if opts.StoreTTL <= 0 {
		opts.StoreTTL = callback.DefaultTTL
	}
	if opts.MemoryNearLimit == nil {
		opts.MemoryNearLimit = func() bool { return false }
	}
	if opts.Pages == nil {
		opts.Pages = builtinPages()
	}
	if opts.Draining == nil {
		opts.Draining = make(chan struct{}) // never closed
	}
	s := &server{
		opts:    opts,
		store:   store,
		log:     log,
		metrics: m,
		binding: newBrowserBinding(opts.BindingSecrets),
	}
	// page.New has rendered every template once already, so these cannot
	// fail but through a bug.
	if err := s.opts.Pages.Prerender(successPage, adminConsentPage); err != nil {
		panic(fmt.Sprintf("httpapi: callback pages: %v", err))
	}
	for _, a := range opts.Apps {
		for _, d := range a.Digests {
			s.tokens = append(s.tokens, apps.Token{App: a.Name, Digest: d})
		}
	}
	if len(s.tokens) > 0 && opts.RateLimits.API > 0 {
		s.tokenFailures = httprate.NewRateLimiter(opts.RateLimits.API, time.Minute)
	}
	s.notifier, _ = store.(callback.Notifier)
	if opts.RateLimits.Shared {
		s.sharedLimits, _ = store.(SharedLimiter)
	}
	if opts.TracerProvider != nil {
		s.tracer = opts.TracerProvider.Tracer(tracerName)
	}
	s.cors = cors.Handler(cors.Options{
		AllowedOrigins: opts.CORSOrigins,
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
