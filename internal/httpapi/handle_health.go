package httpapi

import (
	"log/slog"
	"net/http"
	"time"
)

// healthBody is the original service's /health answer, plus "error" when
// the store cannot be reached.
type healthBody struct {
	Status          string `json:"status"`
	Service         string `json:"service"`
	Timestamp       string `json:"timestamp"`
	ActiveCallbacks *int64 `json:"active_callbacks,omitempty"`
	Error           string `json:"error,omitempty"`
}

// handleHealth answers the original service's health check, with the number
// of callbacks waiting to be taken across every replica. When API tokens
// are set, only a caller with one sees that number: it tells an outsider
// how many sign-ins are under way. Others get the same answer without it;
// a wrong token counts against the client like one on the API (past the
// limit: 429), so /health is no way round the API's limit on guesses.
// Every app's token sees it: it is the original service's one number
// across apps, which says how many callbacks wait, not whose nor for which
// state, like the totals that /metrics on this listener serves to the same
// tokens; what one app must not read of another, its series by app, only
// the operator's metrics listener serves.
func (s *server) handleHealth() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, check := s.checkToken(r)
		if check == tokenInvalid && s.failedToken(w, r) {
			s.writeError(w, r, errTokensLimited)
			return
		}
		withCount := check == tokenValid
		body := healthBody{
			Status:    "healthy",
			Service:   "oauth-callback-server",
			Timestamp: time.Now().UTC().Format(time.RFC3339Nano),
		}
		var (
			n   int64
			err error
		)
		if withCount {
			n, err = s.pending(r.Context())
		} else {
			err = s.ping(r.Context())
		}
		if err != nil {
			annotate(r, slog.String("error", err.Error()))
			body.Status = "unhealthy"
			body.Error = outcomeOf(err).message
			writeUnready(w, body)
			return
		}
		if withCount {
			body.ActiveCallbacks = &n
		}
		writeJSON(w, http.StatusOK, body)
	}
}

// handleHealthz says the process is alive. It never touches the store, so a
// Redis outage does not make Kubernetes restart every replica.
func (s *server) handleHealthz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	}
}

// handleReadyz says whether this replica should get traffic: not while it
// drains for shutdown, not while its store is unreachable.
func (s *server) handleReadyz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.isDraining() {
			writeUnready(w, map[string]string{"status": "draining"})
			return
		}
		if err := s.ping(r.Context()); err != nil {
			annotate(r, slog.String("error", err.Error()))
			writeUnready(w, map[string]string{"status": "unavailable", "error": outcomeOf(err).message})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

// writeUnready answers a health check that fails: its report, as a 503
// that a load balancer or the field client tries again soon. It is a
// report, not a refusal: its body is the check's own, not errorBody.
func writeUnready(w http.ResponseWriter, report any) {
	w.Header().Set("Retry-After", retryAfterSoon)
	writeJSON(w, http.StatusServiceUnavailable, report)
}
