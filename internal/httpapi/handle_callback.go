package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// Limits on the request itself; the callback's own fields have theirs in
// package callback.
const (
	maxQueryBytes = 32 << 10 // GET /callback query
	maxFormBytes  = 64 << 10 // POST /callback body
	maxParamName  = 128
)

// handleCallback receives the identity provider's redirect, as a query
// (GET) or as a form (POST, response_mode=form_post), stores it under its
// state, and tells the person the outcome. The page never shows text from
// the request but a known error code and, for a state registered with an
// API token, a short error_description.
func (s *server) handleCallback() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		values, err := callbackValues(w, r)
		if err == nil {
			var cb callback.Callback
			if cb, err = s.parseCallback(values); err == nil {
				s.storeCallback(w, r, cb)
				return
			}
		}
		if code := values.Get("error"); code != "" {
			err = refusedErrorCallback{err, code, values.Get("error_subcode")}
		}
		s.writeError(w, r, err)
	}
}

// ProbeHeader is on the answer to HEAD /callback, and nowhere else: what
// `oauth-callback-server check` looks for at the public URL, to tell this
// service from a proxy's page, another app or a default backend.
const ProbeHeader = "Oauth-Callback-Server"

// handleCallbackProbe answers HEAD /callback with 204 and ProbeHeader:
// it stores nothing and reads nothing.
func (s *server) handleCallbackProbe() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(ProbeHeader, "1")
		w.Header()["Cache-Control"] = noStore
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *server) storeCallback(w http.ResponseWriter, r *http.Request, cb callback.Callback) {
	annotateState(r, s.opts.StateHasher.Hash(cb.State))
	cookie, bound := s.binding.bound(r, cb.State)
	cb.Bound = bound
	receipt, err := s.put(r.Context(), cb)
	// Handled: the binding has served. Not after a 5xx ("try again"): the
	// person reloads this page, and the binding must still be there.
	if cookie != "" && (err == nil || outcomeOf(err).statusForPage() < 500) {
		clearCookie(w, cookie)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if cb.Error == "" {
		annotate(r, logOutcome(outcomeStored))
		s.metrics.CallbackReceived(outcomeStored)
		switch {
		case receipt.ReturnURL != "" && s.opts.SignInLinks.ReturnRedirect:
			// The code is never in this URL: the MCP server takes it.
			w.Header()["Cache-Control"] = noStore
			w.Header()["Referrer-Policy"] = noReferrer
			http.Redirect(w, r, receipt.ReturnURL, http.StatusSeeOther)
		default:
			p := successPage
			if cb.Kind() == callback.KindAdminConsent {
				p = adminConsentPage
			}
			p.ReturnURL = receipt.ReturnURL
			s.writePage(w, r, http.StatusOK, p)
		}
		return
	}
	annotate(r, logOutcome(outcomeErrorStored))
	s.metrics.CallbackReceived(outcomeErrorStored)
	p := providerErrorPage(cb.Error, cb.Params["error_subcode"])
	// Only a flow the MCP server announced is real enough for the
	// provider's own words: anyone can send an error to /callback. And
	// only when announcing takes a token: on an open API anyone can
	// register a state, then show the page their own text.
	p.ReturnURL = receipt.ReturnURL
	if receipt.Registered && len(s.tokens) > 0 {
		p.ErrorDescription = shownDescription(cb.ErrorDescription)
	}
	s.writePage(w, r, http.StatusOK, p)
}

// callbackValues reads the parameters from the query (GET) or the form body
// (POST), within the size limits.
func callbackValues(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	raw := r.URL.RawQuery
	if r.Method == http.MethodPost {
		ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || ct != "application/x-www-form-urlencoded" {
			return nil, refused(errUnsupportedMedia, "A sign-in response sent by POST must be a form (application/x-www-form-urlencoded).")
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, refused(errTooLarge, "The sign-in response is larger than %d KiB.", maxFormBytes>>10)
			}
			return nil, badRequest("The sign-in response could not be read.")
		}
		raw = string(body)
	} else if len(raw) > maxQueryBytes {
		return nil, refused(errURITooLong, "The sign-in response is longer than %d KiB.", maxQueryBytes>>10)
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return nil, badRequest("The sign-in response is not correctly encoded.")
	}
	return values, nil
}

// parseCallback checks every rule a callback must meet before it is stored.
// Its messages name the rule in fixed words: nothing from the request is
// echoed, not even a parameter's name.
func (s *server) parseCallback(values url.Values) (callback.Callback, error) {
	bad := func(format string, args ...any) (callback.Callback, error) {
		return callback.Callback{}, badRequest(format, args...)
	}
	if len(values) > callback.MaxParams {
		return bad("The sign-in response has more than %d parameters.", callback.MaxParams)
	}
	var c callback.Callback
	for name, vs := range values {
		if len(vs) > 1 {
			// state=a&state=b: which one the provider meant is unknowable.
			return bad("A parameter of the sign-in response appears more than once.")
		}
		if len(name) > maxParamName || callback.ValidateValue(name) != nil {
			return bad("A parameter name of the sign-in response is too long or not valid text.")
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
		if name != "state" && callback.ValidateValue(v) != nil {
			return bad("A parameter of the sign-in response is longer than %d KiB, or not valid text.", callback.MaxValueLength>>10)
		}
	}
	if c.State == "" {
		return bad("The sign-in response has no state, so it cannot be matched to your application.")
	}
	if err := callback.ValidateState(c.State, s.opts.StateMinLength); err != nil {
		return bad("The sign-in response's state is not valid: %v.", err)
	}
	if c.Code == "" && c.Error == "" && !c.GrantsAdminConsent() {
		return bad("The sign-in response has neither a code nor an error.")
	}
	if err := callback.ValidateCode(c.Code); err != nil {
		return bad("The sign-in response's code is not valid: %v.", err)
	}
	c.ReceivedAt = time.Now().UTC() // before Size: it is part of what is stored
	if c.Size() > s.opts.MaxCallbackBytes {
		return callback.Callback{}, refused(errTooLarge, "The sign-in response carries more than %d KiB.", s.opts.MaxCallbackBytes>>10)
	}
	return c, nil
}
