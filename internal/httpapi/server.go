// Package httpapi is the HTTP face of the service: routes.go lists every
// endpoint, handle_*.go answer them, errors.go maps store errors to status
// codes in one table.
package httpapi

import (
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/cors"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// Options are the dependencies and settings of the HTTP handler.
type Options struct {
	Store  callback.Store
	Logger *slog.Logger
	// StoreTimeout bounds every store call a request makes; past it the
	// request gets a 503. Default one second.
	StoreTimeout time.Duration
	// CORSOrigins may call the JSON endpoints from a browser; default "*".
	CORSOrigins []string
	// Draining, once true, turns /readyz to 503 so that load balancers stop
	// sending new requests before shutdown. May be nil.
	Draining *atomic.Bool
	// Now replaces time.Now for received_at and /health; for tests.
	Now func() time.Time
}

type server struct {
	store        callback.Store
	log          *slog.Logger
	storeTimeout time.Duration
	draining     *atomic.Bool
	now          func() time.Time
	cors         func(http.Handler) http.Handler
}

// NewServer returns the service's HTTP handler.
func NewServer(opts Options) http.Handler {
	s := &server{
		store:        opts.Store,
		log:          opts.Logger,
		storeTimeout: opts.StoreTimeout,
		draining:     opts.Draining,
		now:          opts.Now,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.storeTimeout <= 0 {
		s.storeTimeout = time.Second
	}
	if s.draining == nil {
		s.draining = new(atomic.Bool)
	}
	if s.now == nil {
		s.now = time.Now
	}
	origins := opts.CORSOrigins
	if len(origins) == 0 {
		origins = []string{"*"}
	}
	s.cors = cors.Handler(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet},
		AllowedHeaders: []string{"Authorization", "Content-Type", "Prefer"},
		MaxAge:         600,
	})

	r := chi.NewRouter()
	r.Use(s.requestID, s.logRequests, s.recoverPanics)
	addRoutes(r, s)
	return r
}
