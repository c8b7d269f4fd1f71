package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/loopback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/units"
)

const (
	maxRegisterBody = 16 << 10
	maxMetadata     = 4 << 10
)

// registerRequest is the optional body of PUT /api/callback/{state}.
type registerRequest struct {
	// TTL: a duration ("5m") or seconds (300); at most the service's TTL.
	TTL json.RawMessage `json:"ttl"`
	// Metadata: any JSON, returned with the callback.
	Metadata json.RawMessage `json:"metadata"`
	// AuthorizationURL makes a sign-in link (start_url in the answer);
	// ReturnURL is where the person goes back to after the callback.
	AuthorizationURL string `json:"authorization_url"`
	ReturnURL        string `json:"return_url"`
	// Issuer is the authorization server the callback must come from
	// when it says (RFC 9207 iss): another is refused.
	Issuer string `json:"issuer"`

	ttl time.Duration // TTL, checked
}

type registerBody struct {
	Status    string    `json:"status"`
	State     string    `json:"state"`
	ExpiresAt time.Time `json:"expires_at"`
	StartURL  string    `json:"start_url,omitempty"` // the sign-in link, when one was asked for
}

// handleRegister lets the MCP server announce a state before it sends the
// person to sign in. With registration required, callbacks for states
// nobody registered are refused, so nobody can fill the store with made-up
// states.
func (s *server) handleRegister() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		state, err := s.pathState(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		req, err := s.readRegisterRequest(w, r)
		if err == nil {
			req.ttl, err = s.registrationTTL(req.TTL)
		}
		var link *callback.Link
		if err == nil {
			link, err = s.linkOf(state, req)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		ttl := req.ttl
		if err := s.register(r.Context(), s.appOf(r), state, callback.Registration{TTL: ttl, Metadata: req.Metadata, Link: link, Issuer: req.Issuer}); err != nil {
			s.writeError(w, r, err)
			return
		}
		annotate(r, logOutcome("registered"))
		body := registerBody{Status: "registered", State: state, ExpiresAt: time.Now().UTC().Add(ttl)}
		if link != nil {
			body.StartURL = s.opts.SignInLinks.PublicURL + "/start/" + link.ID
		}
		writeJSON(w, http.StatusCreated, body)
	}
}

func (s *server) readRegisterRequest(w http.ResponseWriter, r *http.Request) (registerRequest, error) {
	var req registerRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRegisterBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return req, refused(errTooLarge, "Body larger than %d KiB", maxRegisterBody>>10)
		}
		return req, badRequest("The body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return req, nil // no TTL, no metadata
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		return req, refused(errUnsupportedMedia, "The body must be application/json")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, badRequest("Invalid body: %v", err)
	}
	if dec.More() {
		return req, badRequest("Invalid body: more than one JSON value")
	}
	if len(req.Metadata) > maxMetadata {
		return req, badRequest("metadata is larger than %d KiB", maxMetadata>>10)
	}
	if bytes.Equal(bytes.TrimSpace(req.Metadata), []byte("null")) {
		req.Metadata = nil
	}
	if req.Issuer != "" {
		// RFC 9207 §2: an https URL without query or fragment, compared as
		// a string; at most as long as any other parameter may be.
		u, err := url.Parse(req.Issuer)
		if err != nil || len(req.Issuer) > maxIssuer || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil ||
			!(u.Scheme == "https" || u.Scheme == "http" && loopback.Is(u.Hostname())) {
			return req, badRequest("Invalid issuer: must be the authorization server's https URL, without query or fragment, like https://login.microsoftonline.com/{tenant}/v2.0")
		}
	}
	return req, nil
}

// maxIssuer bounds a registration's issuer; Entra ID's are about 75 bytes.
const maxIssuer = 512

// registrationTTL reads the optional TTL: a duration string or seconds,
// 1 s at least, the service's TTL at most (and by default).
func (s *server) registrationTTL(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return s.opts.StoreTTL, nil
	}
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		text = string(raw) // a number of seconds
	}
	d, err := units.Duration(text)
	if err != nil {
		return 0, badRequest("Invalid ttl: use a duration like \"5m\", or a number of seconds")
	}
	if d < time.Second || d > s.opts.StoreTTL {
		return 0, badRequest("Invalid ttl: must be between 1s and %v", s.opts.StoreTTL)
	}
	return d.Truncate(time.Second), nil
}
