package httpapi

import (
	"github.com/go-chi/chi/v5"
)

// addRoutes is the whole HTTP surface of the service. CONTRACT.md Part A
// rows are marked "compat": their paths, status codes and JSON fields must
// not change.
func addRoutes(r chi.Router, s *server) {
	// The identity provider redirects the person's browser here.
	r.Get("/callback", s.handleCallback())  // compat: query (response_mode=query)
	r.Post("/callback", s.handleCallback()) // form_post (response_mode=form_post)

	r.Group(func(r chi.Router) {
		r.Use(s.cors)
		r.Get("/health", s.handleHealth()) // compat
		// The MCP server polls here.
		// compat; ?wait=25s or Prefer: wait=25 makes it a long-poll.
		r.Get("/api/callback/{state}", s.handleTake())
		// Preflight requests reach the CORS middleware through these.
		r.Options("/api/callback/{state}", s.handleMethodNotAllowed())
		r.Options("/health", s.handleMethodNotAllowed())
	})

	// For Kubernetes probes and load balancers.
	r.Get("/healthz", s.handleHealthz()) // process alive; never touches the store
	r.Get("/readyz", s.handleReadyz())   // store reachable and not draining
	if s.serveMetrics {
		r.Method("GET", "/metrics", s.metrics.Handler()) // Prometheus
	}

	r.NotFound(s.handleNotFound())                 // compat: anything else is 404
	r.MethodNotAllowed(s.handleMethodNotAllowed()) // 405 with Allow
}
