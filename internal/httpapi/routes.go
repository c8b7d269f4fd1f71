package httpapi

import (
	"github.com/go-chi/chi/v5"
)

// addRoutes is the whole HTTP surface of the service. Rows marked "compat"
// are the original service's contract (docs/api.md, "Compatibility"):
// their paths, status codes and JSON fields must not change.
func addRoutes(r chi.Router, s *server) {
	// The identity provider redirects the person's browser here.
	r.Group(func(r chi.Router) {
		// Per client IP (IPv6 per /56), for all replicas together on Redis.
		r.Use(s.rateLimit("callback", s.opts.RateLimits.Callback, byNetwork, nil))
		r.Get("/callback", s.handleCallback())       // compat: query (response_mode=query)
		r.Post("/callback", s.handleCallback())      // form_post (response_mode=form_post)
		r.Head("/callback", s.handleCallbackProbe()) // "is this the service?" (oauth-callback-server check)
		// A sign-in link: a page (a GET changes nothing, for link
		// scanners), whose button binds the browser, then 303 to the provider.
		r.Get("/start/{id}", s.handleStartPage())
		r.Post("/start/{id}", s.handleStart())
	})

	r.Group(func(r chi.Router) {
		r.Use(s.cors)
		r.Get("/health", s.handleHealth()) // compat; active_callbacks only with a token, when tokens are set
		r.Options("/health", s.handleMethodNotAllowed())
	})

	// The MCP server polls here. CORS first (a preflight carries no token),
	// then the token (when configured; checked first, then wrong ones
	// count against the client's network), then the limit per token or IP.
	r.Group(func(r chi.Router) {
		r.Use(s.cors, s.requireToken, s.rateLimit("api", s.opts.RateLimits.API, byTokenOrIP, apiLimitOf))
		// compat; ?wait=25s or Prefer: wait=25 makes it a long-poll.
		r.Get("/api/callback/{state}", s.handleTake())
		// Register a state before the sign-in (optional TTL and metadata;
		// authorization_url for a sign-in link).
		// A registration holds bytes for its TTL: a limit of its own.
		r.With(s.rateLimit("register", s.opts.RateLimits.Register, byTokenOrIP, registerLimitOf)).Put("/api/callback/{state}", s.handleRegister())
		// Cancel a sign-in: later callbacks and takes get 410 cancelled.
		r.Delete("/api/callback/{state}", s.handleCancel())
		// Where a sign-in stands; never the code.
		r.Get("/api/status/{state}", s.handleStatus())
		// Preflight requests reach the CORS middleware through these.
		r.Options("/api/callback/{state}", s.handleMethodNotAllowed())
		r.Options("/api/status/{state}", s.handleMethodNotAllowed())
	})

	// For Kubernetes probes and load balancers.
	r.Get("/healthz", s.handleHealthz()) // process alive; never touches the store
	r.Get("/readyz", s.handleReadyz())   // store reachable and not draining
	if s.opts.ServeMetrics {
		// Prometheus; behind the token when tokens are set, and without the
		// series of each app, which only OAUTH_CALLBACK_METRICS_ADDR serves:
		// any app's token opens this one.
		r.Method("GET", "/metrics", s.requireToken(s.metrics.HandlerWithoutApps()))
	}

	r.NotFound(s.handleNotFound())                 // compat: anything else is 404
	r.MethodNotAllowed(s.handleMethodNotAllowed()) // 405 with Allow
}
