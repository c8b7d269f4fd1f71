package httpapi

import (
	"net/http"
	"time"
)

// statusBody is the answer of GET /api/status/{state}.
type statusBody struct {
	State     string     `json:"state"`
	Status    string     `json:"status"`
	ExpiresAt *time.Time `json:"expires_at"` // null for unknown
}

// handleStatus tells the MCP server where a sign-in stands, without ever
// handing out the code: 200 for every status, unknown included.
func (s *server) handleStatus() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		state, err := s.pathState(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		st, err := s.status(r.Context(), s.appOf(r), state)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		body := statusBody{State: state, Status: string(st.Phase)}
		if !st.ExpiresAt.IsZero() {
			at := st.ExpiresAt.UTC()
			body.ExpiresAt = &at
		}
		annotate(r, logOutcome("status_"+body.Status))
		writeJSON(w, http.StatusOK, body)
	}
}

// handleCancel cancels a sign-in: its registration and pending callback
// are discarded, and what comes later is refused as cancelled (410).
func (s *server) handleCancel() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		state, err := s.pathState(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := s.cancel(r.Context(), s.appOf(r), state); err != nil {
			s.writeError(w, r, err)
			return
		}
		annotate(r, logOutcome("cancelled"))
		w.Header()["Cache-Control"] = noStore
		w.WriteHeader(http.StatusNoContent)
	}
}
