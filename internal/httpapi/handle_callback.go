package httpapi

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/metrics"
	"github.com/oauth-callback-server/oauth-callback-server/internal/page"
)

// Limits on the request itself; the callback's own fields have theirs in
// package callback.
const (
	maxQueryBytes = 32 << 10 // GET /callback query
	maxFormBytes  = 64 << 10 // POST /callback body
	maxParamName  = 128
)

// requestError is bad input: a status, and a reason a person can read.
type requestError struct {
	status int
	reason string
}

// handleCallback receives the identity provider's redirect, as a query
// (GET) or as a form (POST, response_mode=form_post), stores it under its
// state, and tells the person the outcome.
func (s *server) handleCallback() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		values, rerr := callbackValues(w, r)
		if rerr != nil {
			annotate(r, slog.String("outcome", "invalid"))
			s.metrics.CallbackReceived(metrics.CallbackInvalid)
			s.pages.Write(w, rerr.status, page.Content{Kind: page.Failure, Title: "This sign-in response is not valid", Message: rerr.reason})
			return
		}
		cb, rerr := parseCallback(values, s.stateMinLength)
		if rerr != nil {
			annotate(r, slog.String("outcome", "invalid"))
			s.metrics.CallbackReceived(metrics.CallbackInvalid)
			p := page.Content{
				Kind:    page.Failure,
				Title:   "This sign-in response is not valid",
				Message: rerr.reason + " Nothing was stored. Start again from your application.",
			}
			// An error callback without state (Entra's cancel) still tells
			// the person what the provider said.
			if values.Get("error") != "" {
				p.Title = "Sign-in failed"
				p.Error = values.Get("error")
				p.ErrorDescription = values.Get("error_description")
			}
			s.pages.Write(w, rerr.status, p)
			return
		}
		cb.ReceivedAt = s.now().UTC()
		annotate(r, slog.String("state_hash", callback.StateHash(cb.State)))

		if err := s.put(r.Context(), cb); err != nil {
			o := outcomeOf(err)
			annotateOutcome(r, o, err)
			s.metrics.CallbackReceived(o.logName)
			s.pages.Write(w, o.status, o.page())
			return
		}

		if cb.Error != "" {
			annotate(r, slog.String("outcome", metrics.CallbackErrorStored))
			s.metrics.CallbackReceived(metrics.CallbackErrorStored)
			s.pages.Write(w, http.StatusOK, page.Content{
				Kind:             page.Failure,
				Title:            "Sign-in failed",
				Message:          "The sign-in provider returned an error. Close this window and try again from your application.",
				Error:            cb.Error,
				ErrorDescription: cb.ErrorDescription,
			})
			return
		}
		annotate(r, slog.String("outcome", metrics.CallbackStored))
		s.metrics.CallbackReceived(metrics.CallbackStored)
		s.pages.Write(w, http.StatusOK, successPage)
	}
}

// callbackValues reads the parameters from the query (GET) or the form body
// (POST), within the size limits.
func callbackValues(w http.ResponseWriter, r *http.Request) (url.Values, *requestError) {
	raw := r.URL.RawQuery
	if r.Method == http.MethodPost {
		ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || ct != "application/x-www-form-urlencoded" {
			return nil, &requestError{http.StatusUnsupportedMediaType,
				"A POSTed sign-in response must be a form (application/x-www-form-urlencoded)."}
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, &requestError{http.StatusRequestEntityTooLarge,
					fmt.Sprintf("The sign-in response is larger than %d KiB.", maxFormBytes>>10)}
			}
			return nil, &requestError{http.StatusBadRequest, "The sign-in response could not be read."}
		}
		raw = string(body)
	} else if len(raw) > maxQueryBytes {
		return nil, &requestError{http.StatusRequestURITooLong,
			fmt.Sprintf("The sign-in response is longer than %d KiB.", maxQueryBytes>>10)}
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return nil, &requestError{http.StatusBadRequest, "The sign-in response is not correctly encoded."}
	}
	return values, nil
}

// parseCallback checks every rule a callback must meet before it is stored.
func parseCallback(values url.Values, stateMinLength int) (callback.Callback, *requestError) {
	bad := func(format string, args ...any) (callback.Callback, *requestError) {
		return callback.Callback{}, &requestError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
	}
	if len(values) > callback.MaxParams {
		return bad("The sign-in response has more than %d parameters.", callback.MaxParams)
	}
	var c callback.Callback
	for name, vs := range values {
		if len(vs) > 1 {
			// state=a&state=b: which one the provider meant is unknowable.
			return bad("The parameter %q appears more than once.", clip(name))
		}
		if len(name) > maxParamName || callback.ValidateValue("name", name) != nil {
			return bad("A parameter name is too long or not valid text.")
		}
		v := vs[0]
		switch name {
		case "state":
			c.State = v
		case "code":
			c.Code = v
			continue // checked below, with its own rules
		case "error":
			c.Error = v
		case "error_description":
			c.ErrorDescription = v
		default:
			if name == "iss" {
				c.Iss = v
			}
			if c.Params == nil {
				c.Params = make(map[string]string, len(values))
			}
			c.Params[name] = v
		}
		if name != "state" {
			if err := callback.ValidateValue(name, v); err != nil {
				return bad("The %s.", err)
			}
		}
	}
	if c.State == "" {
		return bad("The sign-in response has no state, so it cannot be matched to your application.")
	}
	if err := callback.ValidateState(c.State, stateMinLength); err != nil {
		return bad("The %s.", err)
	}
	if c.Code == "" && c.Error == "" {
		return bad("The sign-in response has neither a code nor an error.")
	}
	if err := callback.ValidateCode(c.Code); err != nil {
		return bad("The %s.", err)
	}
	return c, nil
}

// clip shortens a caller-supplied string before it goes into a message.
func clip(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
