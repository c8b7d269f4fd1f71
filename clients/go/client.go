// Package client is the Go client of oauth-callback-server, for MCP servers
// written in Go: Wait blocks until the callback for a state arrives and
// returns it, using long-poll where the server offers it and plain polling
// (every 2 s, like the original field client) where it does not.
//
//	c, err := client.New("http://oauth-callback-server:8000")
//	res, err := c.Wait(ctx, state)
//	// exchange res.AuthCode at the token endpoint, with the PKCE verifier
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Result is a callback as the identity provider sent it.
type Result struct {
	AuthCode string // empty for an admin consent
	State    string
	Iss      string // RFC 9207 issuer, when the provider sent one: compare it with the expected issuer
	// Kind is KindAuthorizationCode, or KindAdminConsent for Microsoft Entra
	// ID's admin consent (no code; see Tenant and Scope).
	Kind string
	// Issuer is the issuer the registration named (ExpectIssuer): a
	// present Iss matched it. Empty when the registration named none.
	Issuer     string
	Params     map[string]string // every other parameter the provider sent
	ReceivedAt time.Time
	Metadata   json.RawMessage // what Register attached, if anything
}

// The kinds of callback (Result.Kind).
const (
	KindAuthorizationCode = "authorization_code"
	KindAdminConsent      = "admin_consent"
)

// Tenant is the tenant an Entra ID admin consent names (params["tenant"]).
// Microsoft warns it must not be trusted for authorisation: anyone can put
// any tenant in a URL. Take the tenant from a token instead.
func (r *Result) Tenant() string { return r.Params["tenant"] }

// Scope is the scope an Entra ID admin consent was granted for
// (params["scope"]).
func (r *Result) Scope() string { return r.Params["scope"] }

// ErrAlreadyRetrieved means the callback was taken before: by another
// replica of the MCP server, or by an attacker who knew the state. Start the
// sign-in again.
var ErrAlreadyRetrieved = errors.New("callback already retrieved")

// ErrConflict means two different callbacks arrived for the state, so the
// service handed out neither: someone other than the person may have sent
// one. Start the sign-in again.
var ErrConflict = errors.New("conflicting callbacks received for this state; start the sign-in again")

// ErrTimeout means the context's deadline passed before a callback arrived:
// the person did not finish signing in in time.
var ErrTimeout = errors.New("timed out waiting for the callback")

// ProviderError is an error the identity provider returned instead of a
// code, such as access_denied when the person declined consent.
type ProviderError struct {
	Code        string // the OAuth error code, e.g. access_denied
	Description string // error_description, may be empty
	Result      *Result
}

func (e *ProviderError) Error() string {
	if e.Description == "" {
		return "identity provider returned " + e.Code
	}
	return "identity provider returned " + e.Code + ": " + e.Description
}

// Client polls one oauth-callback-server.
type Client struct {
	base         string
	http         *http.Client
	pollInterval time.Duration
	longPoll     time.Duration
	token        string
}

// Option changes a Client's defaults.
type Option func(*Client)

// WithHTTPClient replaces http.DefaultClient. Leave its Timeout unset: each
// request gets a deadline of its own that allows for the long-poll.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithPollInterval sets the pause between plain polls (default 2 s).
func WithPollInterval(d time.Duration) Option { return func(c *Client) { c.pollInterval = d } }

// WithLongPoll sets how long one request asks the server to wait (default
// 25 s, capped by the server); 0 turns long-poll off.
func WithLongPoll(d time.Duration) Option { return func(c *Client) { c.longPoll = d } }

// WithToken sends Authorization: Bearer token, for servers that require it.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// New returns a client of the server at baseURL, such as
// "http://oauth-callback-server:8000".
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL must be http(s)://host[:port], got %q", baseURL)
	}
	c := &Client{
		base:         strings.TrimSuffix(u.String(), "/"),
		http:         http.DefaultClient,
		pollInterval: 2 * time.Second,
		longPoll:     25 * time.Second,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// requestSlack is how long a request may take beyond the wait it asked for.
const requestSlack = 10 * time.Second

// Wait returns the callback for state once it arrives. It returns
// ErrAlreadyRetrieved (ErrAnswerLost when the answer carrying the code was
// lost), ErrConflict, ErrCancelled, a *ProviderError, ErrUnauthorized,
// ErrTimeout when ctx's deadline passes, or ctx's error when it is
// cancelled. Network errors, 429 and 5xx answers are retried with backoff
// (Retry-After when the server gives it).
func (c *Client) Wait(ctx context.Context, state string) (*Result, error) {
	backoff, lost := firstBackoff, false
	for {
		res, longPolled, retryAfter, err := c.poll(ctx, state, c.longPoll)
		delay := c.pollInterval
		switch {
		case err == nil:
			return res, nil
		case errors.Is(err, errNotYet) && longPolled:
			backoff = firstBackoff
			continue // the server waited for us; ask again at once
		case errors.Is(err, errNotYet):
			// Plain polling: a server without long-poll, or one that could
			// not grant it (busy, shutting down).
			backoff = firstBackoff
		case errors.Is(err, errLost), errors.Is(err, errRetry):
			lost = lost || errors.Is(err, errLost) // the server may have answered with the code
			delay = backoff
			if retryAfter > 0 {
				delay = retryAfter
			}
			backoff = min(backoff*2, maxBackoff)
		case errors.Is(err, ErrAlreadyRetrieved) && lost:
			return nil, ErrAnswerLost
		default:
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctxErr(ctx)
		case <-time.After(delay):
		}
	}
}

// Backoff after a network error, a 429 or a 5xx: doubling up to maxBackoff.
const (
	firstBackoff = 250 * time.Millisecond
	maxBackoff   = 10 * time.Second
)

// ErrAnswerLost: the callback was handed out in an answer this client never
// received (the connection failed mid-request). Start the sign-in again.
var ErrAnswerLost = fmt.Errorf("%w: the answer carrying it was lost; start the sign-in again", ErrAlreadyRetrieved)

// ErrUnauthorized: the server needs an API token (WithToken), or refused it.
var ErrUnauthorized = errors.New("the server requires a valid API token")

// ErrAlreadyRegistered means the state was registered, or used, before.
var ErrAlreadyRegistered = errors.New("state already registered or used")

// Register announces state to the server before the person is sent to sign
// in: needed when the server requires registration, and a way to attach
// metadata (any JSON-encodable value, returned as Result.Metadata). A ttl of
// zero is the server's TTL.
func (c *Client) Register(ctx context.Context, state string, ttl time.Duration, metadata any, opts ...RegisterOption) error {
	_, err := c.register(ctx, state, ttl, metadata, nil, opts)
	return err
}

// RegisterOption adds to a registration.
type RegisterOption func(body map[string]any)

// ExpectIssuer names the authorization server the callback must come from
// (RFC 9207; the MCP revision of 2026-07-28 asks clients to compare a
// present iss): the service refuses a callback for the state whose iss is
// another, stores nothing, and keeps waiting for the real one. Result.Issuer
// then reports it.
func ExpectIssuer(issuer string) RegisterOption {
	return func(body map[string]any) { body["issuer"] = issuer }
}

// Link asks for a sign-in link (MCP URL elicitation): the service answers
// a start URL that sends the person's browser to AuthorizationURL and binds
// that browser to the state, so that a forwarded link is refused.
type Link struct {
	// AuthorizationURL is the identity provider's authorization URL for
	// this state; its host must be in the server's
	// OAUTH_CALLBACK_AUTHORIZE_HOSTS, its state parameter the state.
	AuthorizationURL string
	// ReturnURL, optional, is where the person goes back to afterwards
	// (a host in OAUTH_CALLBACK_RETURN_HOSTS).
	ReturnURL string
}

// RegisterLink registers state with a sign-in link and returns the start
// URL to send in the elicitation. Errors as Register; a link the server
// refuses (a host not allowed, links off) is an error naming the reason.
func (c *Client) RegisterLink(ctx context.Context, state string, link Link, ttl time.Duration, metadata any, opts ...RegisterOption) (startURL string, err error) {
	return c.register(ctx, state, ttl, metadata, &link, opts)
}

func (c *Client) register(ctx context.Context, state string, ttl time.Duration, metadata any, link *Link, opts []RegisterOption) (string, error) {
	body := map[string]any{}
	for _, o := range opts {
		o(body)
	}
	if ttl > 0 {
		body["ttl"] = int(ttl / time.Second)
	}
	if metadata != nil {
		body["metadata"] = metadata
	}
	if link != nil {
		body["authorization_url"] = link.AuthorizationURL
		if link.ReturnURL != "" {
			body["return_url"] = link.ReturnURL
		}
	}
	encoded, err := json.Marshal(body)
	if err != nil {
		return "", fmt.Errorf("client: encode registration: %w", err)
	}
	resp, err := c.do(ctx, http.MethodPut, "/api/callback/"+url.PathEscape(state), encoded)
	if err != nil {
		return "", fmt.Errorf("client: register: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		var b struct {
			StartURL string `json:"start_url"`
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&b); err != nil {
			return "", fmt.Errorf("client: register: %w", err)
		}
		if link != nil && b.StartURL == "" {
			return "", fmt.Errorf("client: register: the server gave no start_url (does it support sign-in links?)")
		}
		return b.StartURL, nil
	case http.StatusConflict:
		return "", ErrAlreadyRegistered
	case http.StatusUnauthorized:
		return "", fmt.Errorf("client: register: %w: %s", ErrUnauthorized, message(resp.Body, resp.Status))
	default:
		return "", fmt.Errorf("client: register: %s", message(resp.Body, resp.Status))
	}
}

// ErrNotFound: Cancel found no such state (never registered nor received,
// or expired).
var ErrNotFound = errors.New("state unknown or expired")

// ErrCancelled: the sign-in was cancelled (Cancel); start it again.
var ErrCancelled = errors.New("sign-in cancelled")

// Status is where a sign-in stands: registered, started (its sign-in link
// was opened), received, taken, conflict, cancelled or unknown.
type Status struct {
	State     string     `json:"state"`
	Status    string     `json:"status"`
	ExpiresAt *time.Time `json:"expires_at"` // nil when unknown
}

// Status reads where the sign-in for state stands; it never takes the
// callback.
func (c *Client) Status(ctx context.Context, state string) (*Status, error) {
	resp, err := c.do(ctx, http.MethodGet, "/api/status/"+url.PathEscape(state), nil)
	if err != nil {
		return nil, fmt.Errorf("client: status: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return nil, fmt.Errorf("client: status: %w: %s", ErrUnauthorized, message(resp.Body, resp.Status))
	default:
		return nil, fmt.Errorf("client: status: %s", message(resp.Body, resp.Status))
	}
	var st Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&st); err != nil {
		return nil, fmt.Errorf("client: status: %w", err)
	}
	return &st, nil
}

// Cancel cancels the sign-in for state: a later callback, and any Wait,
// get ErrCancelled. It returns ErrNotFound for an unknown state, and
// ErrAlreadyRetrieved or ErrConflict when the sign-in is over already.
func (c *Client) Cancel(ctx context.Context, state string) error {
	resp, err := c.do(ctx, http.MethodDelete, "/api/callback/"+url.PathEscape(state), nil)
	if err != nil {
		return fmt.Errorf("client: cancel: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
		return nil
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusUnauthorized:
		return fmt.Errorf("client: cancel: %w: %s", ErrUnauthorized, message(resp.Body, resp.Status))
	case http.StatusGone:
		var b struct{ Reason string }
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&b)
		return goneError(b.Reason)
	default:
		return fmt.Errorf("client: cancel: %s", message(resp.Body, resp.Status))
	}
}

// goneError is what a 410 means, by its reason.
func goneError(reason string) error {
	switch reason {
	case "conflict":
		return ErrConflict
	case "cancelled":
		return ErrCancelled
	}
	return ErrAlreadyRetrieved
}

// do sends one API request with the token, and body as JSON when set.
func (c *Client) do(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return c.http.Do(req)
}

var (
	errNotYet = errors.New("not yet")
	errRetry  = errors.New("retry")
	errLost   = errors.New("no answer")
)

// poll makes one request. longPolled reports whether the server granted
// the wait (Preference-Applied); retryAfter is the server's Retry-After on
// a 429 or 5xx.
func (c *Client) poll(ctx context.Context, state string, wait time.Duration) (res *Result, longPolled bool, retryAfter time.Duration, err error) {
	reqCtx, cancel := context.WithTimeout(ctx, wait+requestSlack)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, c.base+"/api/callback/"+url.PathEscape(state), nil)
	if err != nil {
		return nil, false, 0, err
	}
	if wait > 0 {
		req.Header.Set("Prefer", "wait="+strconv.Itoa(int(wait/time.Second)))
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, 0, ctxErr(ctx)
		}
		return nil, false, 0, errLost
	}
	defer resp.Body.Close()
	longPolled = strings.HasPrefix(resp.Header.Get("Preference-Applied"), "wait=") &&
		resp.Header.Get("Preference-Applied") != "wait=0"

	switch code := resp.StatusCode; {
	case code == http.StatusOK:
		res, err := decode(resp.Body)
		return res, longPolled, 0, err
	case code == http.StatusNotFound:
		return nil, longPolled, 0, errNotYet
	case code == http.StatusGone:
		var b struct{ Reason string }
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&b)
		return nil, longPolled, 0, goneError(b.Reason)
	case code == http.StatusUnauthorized:
		return nil, longPolled, 0, fmt.Errorf("%w: %s", ErrUnauthorized, message(resp.Body, resp.Status))
	case code == http.StatusTooManyRequests || code >= 500:
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs >= 0 {
			retryAfter = time.Duration(secs) * time.Second
		}
		return nil, longPolled, retryAfter, errRetry
	default:
		return nil, longPolled, 0, fmt.Errorf("client: server refused the request: %s", message(resp.Body, resp.Status))
	}
}

func decode(body io.Reader) (*Result, error) {
	var b struct {
		AuthCode         *string           `json:"auth_code"`
		State            string            `json:"state"`
		Error            *string           `json:"error"`
		ErrorDescription *string           `json:"error_description"`
		Iss              string            `json:"iss"`
		Kind             string            `json:"kind"`
		Issuer           string            `json:"issuer"`
		Params           map[string]string `json:"params"`
		ReceivedAt       time.Time         `json:"received_at"`
		Metadata         json.RawMessage   `json:"metadata"`
	}
	if err := json.NewDecoder(io.LimitReader(body, 1<<20)).Decode(&b); err != nil {
		return nil, fmt.Errorf("client: decode callback: %w", err)
	}
	if b.Kind == "" { // a server from before kind, or the original service
		b.Kind = KindAuthorizationCode
	}
	res := &Result{State: b.State, Iss: b.Iss, Kind: b.Kind, Issuer: b.Issuer, Params: b.Params, ReceivedAt: b.ReceivedAt, Metadata: b.Metadata}
	if b.AuthCode != nil {
		res.AuthCode = *b.AuthCode
	}
	if b.Error != nil {
		pe := &ProviderError{Code: *b.Error, Result: res}
		if b.ErrorDescription != nil {
			pe.Description = *b.ErrorDescription
		}
		return nil, pe
	}
	return res, nil
}

func message(body io.Reader, status string) string {
	var b struct{ Message string }
	if json.NewDecoder(io.LimitReader(body, 64<<10)).Decode(&b) == nil && b.Message != "" {
		return b.Message
	}
	return status
}

func ctxErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
	return ctx.Err()
}
