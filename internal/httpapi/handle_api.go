package httpapi

import (
	"encoding/json"
	"errors"
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
	Kind             string            `json:"kind"`             // authorization_code or admin_consent
	Issuer           string            `json:"issuer,omitempty"` // the registration's, which a present iss matched
	Params           map[string]string `json:"params"`
	ReceivedAt       time.Time         `json:"received_at"`
	Metadata         json.RawMessage   `json:"metadata,omitempty"` // from the registration
}

// handleTake hands the callback for a state to the first caller, exactly
// once across every replica. With ?wait= or Prefer: wait= it holds the
// request until the callback arrives or the wait ends (long-poll; see
// longpoll.go for how a held request waits).
func (s *server) handleTake() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		state, err := s.pathState(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		wait, fromPrefer, err := requestedWait(r, s.opts.LongPoll.MaxWait)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		app, info := s.appOf(r), infoOf(r)
		if wait == 0 || info == nil || !info.mayWait || !s.admitWaiter() {
			cb, err := s.take(r.Context(), app, state)
			if r.Context().Err() != nil && err != nil {
				return // the client left; nobody to answer
			}
			s.writeTake(w, r, state, cb, err)
			return
		}
		// Only a wait actually granted is "applied" (RFC 7240): a client
		// that sees no Preference-Applied knows to poll at its own pace.
		if fromPrefer {
			w.Header().Set("Preference-Applied", "wait="+formatSeconds(wait))
		}
		annotate(r, slog.Int64("wait_ms", wait.Milliseconds()))
		waiting := false
		defer func() {
			if !waiting { // answered at once, or a panic: nothing waits
				s.releaseWaiter()
			}
		}()
		cb, err := s.take(r.Context(), app, state)
		if !errors.Is(err, callback.ErrNotFound) {
			s.writeTake(w, r, state, cb, err)
			return
		}
		// Subscribed after the first look: the subscription wakes the
		// waiter once it is active, and the look then finds a callback
		// stored in between.
		s.beginLongPoll(info, app, state)
		s.waitForCallback(w, info, wait)
		waiting = true
	}
}

func (s *server) writeTake(w http.ResponseWriter, r *http.Request, state string, cb callback.Callback, err error) {
	if err != nil {
		s.metrics.Took(s.writeError(w, r, err))
		return
	}
	annotate(r, slog.String("outcome", "taken"))
	s.metrics.Took(http.StatusOK)
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
		Kind:             cb.Kind(),
		Issuer:           cb.Issuer,
		Params:           params,
		ReceivedAt:       cb.ReceivedAt,
		Metadata:         cb.Metadata,
	})
}

// pathState reads and checks the {state} path segment and names it in the
// log line.
func (s *server) pathState(r *http.Request) (string, error) {
	state := chi.URLParam(r, "state")
	// chi matches on the escaped path when it differs from the decoded
	// one (a %2F in the state); decode it here, once.
	if r.URL.RawPath != "" {
		decoded, err := url.PathUnescape(state)
		if err != nil {
			return "", badRequest("The state in the path is not correctly encoded")
		}
		state = decoded
	}
	if err := callback.ValidateState(state, s.opts.StateMinLength); err != nil {
		return "", badRequest("Invalid state: %v", err)
	}
	annotateState(r, s.opts.StateHasher.Hash(state))
	return state, nil
}

// admitWaiter takes a waiter's place, unless the replica holds as many as
// it may, nears its memory limit or shuts down: the request is then
// answered at once, like a plain poll, and the client polls again.
func (s *server) admitWaiter() bool {
	var refused string
	switch {
	case s.isDraining():
		refused = "draining"
	case s.opts.MemoryNearLimit():
		refused = "memory"
	case s.waiters.Add(1) > int64(s.opts.LongPoll.MaxWaiters):
		s.waiters.Add(-1)
		refused = "waiters"
	}
	if refused != "" {
		s.metrics.WaitRefused(refused)
		return false
	}
	s.metrics.WaiterStarted()
	return true
}

func (s *server) releaseWaiter() {
	s.waiters.Add(-1)
	s.metrics.WaiterDone()
}

func (s *server) isDraining() bool {
	select {
	case <-s.opts.Draining:
		return true
	default:
		return false
	}
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
