package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// takeBody is the 200 answer of GET /api/callback/{state}. The first five
// fields are the original service's; null where a value is absent, as before.
type takeBody struct {
	Status           string            `json:"status"`
	AuthCode         *string           `json:"auth_code"`
	State            string            `json:"state"`
	Error            *string           `json:"error"`
	ErrorDescription *string           `json:"error_description"`
	Iss              string            `json:"iss,omitempty"`
	Params           map[string]string `json:"params"`
	ReceivedAt       time.Time         `json:"received_at"`
}

// errorBody is every non-200 JSON answer, as in the original service.
type errorBody struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// handleTake hands the callback for a state to the first caller, exactly
// once across every replica.
func (s *server) handleTake() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		state := chi.URLParam(r, "state")
		// chi matches on the escaped path when it differs from the decoded
		// one (a %2F in the state); decode it here, once.
		if r.URL.RawPath != "" {
			decoded, err := url.PathUnescape(state)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, errorBody{"error", "The state in the path is not correctly encoded"})
				return
			}
			state = decoded
		}
		if err := callback.ValidateState(state); err != nil {
			annotate(r, slog.String("outcome", "invalid"))
			writeJSON(w, http.StatusBadRequest, errorBody{"error", "Invalid state: " + err.Error()})
			return
		}
		annotate(r, slog.String("state_hash", callback.StateHash(state)))

		ctx, cancel := context.WithTimeout(r.Context(), s.storeTimeout)
		defer cancel()
		cb, err := s.store.Take(ctx, state)
		if err != nil {
			o := outcomeOf(err)
			annotate(r, slog.String("outcome", o.logName))
			if o.status >= 500 {
				annotate(r, slog.String("error", err.Error()))
			}
			writeJSON(w, o.status, errorBody{"error", o.message})
			return
		}
		annotate(r, slog.String("outcome", "taken"))
		params := cb.Params
		if params == nil {
			params = map[string]string{}
		}
		writeJSON(w, http.StatusOK, takeBody{
			Status:           "success",
			AuthCode:         nullIfEmpty(cb.Code),
			State:            state,
			Error:            nullIfEmpty(cb.Error),
			ErrorDescription: nullIfEmpty(cb.ErrorDescription),
			Iss:              cb.Iss,
			Params:           params,
			ReceivedAt:       cb.ReceivedAt,
		})
	}
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
