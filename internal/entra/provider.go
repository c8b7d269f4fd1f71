package entra

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/redis/go-redis/v9/auth"
)

// Provider gives go-redis Entra ID credentials (auth.StreamingCredentialsProvider):
// a new connection gets the current token, and while any connection is
// open a background loop gets the next token once 70% of the current
// one's lifetime has passed and hands it to every connection, which
// authenticates again (AUTH) without reconnecting.
//
// When no token can be had, a new connection fails to open (so requests
// get the store's 503 within its timeout, and /readyz fails); live
// connections keep working until Redis closes them at the old token's
// expiry; one log line a minute names the identity and the cause; and the
// loop keeps trying, so recovery needs no restart.
type Provider struct {
	cred     azcore.TokenCredential
	identity Identity
	username string // set by the operator; else the token's oid
	timeout  time.Duration
	log      *slog.Logger

	mu        sync.Mutex
	current   token
	listeners map[auth.CredentialsListener]struct{}
	stop      chan struct{} // closed to end the refresh loop; nil while it does not run
	lastErr   error         // the last fetch's failure, until a fetch succeeds
	lastErrAt time.Time
	failing   failureLog
}

// token is one access token as Redis is given it.
type token struct {
	creds              auth.Credentials
	fetched, expiresOn time.Time
}

func (t token) valid(now time.Time) bool { return t.creds != nil && now.Before(t.expiresOn) }

// refreshAt is when the next token is asked for: 70% into this one's
// life, as go-redis-entraid does by default, which leaves Entra ID's
// outages of a few minutes time to pass on hour-long tokens.
func (t token) refreshAt() time.Time {
	return t.fetched.Add(time.Duration(float64(t.expiresOn.Sub(t.fetched)) * 0.7))
}

// Options configure a Provider.
type Options struct {
	Identity Identity // for the log lines
	// Username is the Redis user; empty: the token's oid claim (the
	// identity's object id), which is what Azure names the user.
	Username string
	// Timeout bounds one token request made while a connection opens.
	Timeout time.Duration
	Log     *slog.Logger
}

// NewProvider returns a Provider of cred's tokens.
func NewProvider(cred azcore.TokenCredential, opts Options) *Provider {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Provider{
		cred: cred, identity: opts.Identity, username: opts.Username, timeout: opts.Timeout, log: opts.Log,
		listeners: map[auth.CredentialsListener]struct{}{},
	}
}

// Identity is who the provider signs in as.
func (p *Provider) Identity() Identity { return p.identity }

// Subscribe implements auth.StreamingCredentialsProvider: the current
// credentials (fetched now if there are none), and updates to l until the
// returned function is called. Subscribing l again is the same
// subscription.
func (p *Provider) Subscribe(l auth.CredentialsListener) (auth.Credentials, auth.UnsubscribeFunc, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.current.valid(time.Now()) {
		// A connection is opening and nothing valid is at hand: get a
		// token now, unless the last try failed a moment ago (every
		// connection of a pool opening at once would ask again).
		if p.lastErr != nil && time.Since(p.lastErrAt) < time.Second {
			return nil, nil, p.lastErr
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
		t, err := p.fetch(ctx)
		cancel()
		if err != nil {
			p.failed(err)
			return nil, nil, err
		}
		p.succeeded(t)
	}
	p.listeners[l] = struct{}{}
	if p.stop == nil {
		p.stop = make(chan struct{})
		go p.refresh(p.stop)
	}
	var once sync.Once
	unsubscribe := func() error {
		once.Do(func() { p.unsubscribe(l) })
		return nil
	}
	return p.current.creds, unsubscribe, nil
}

func (p *Provider) unsubscribe(l auth.CredentialsListener) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.listeners, l)
	if len(p.listeners) == 0 && p.stop != nil {
		// No connection left to re-authenticate: the next one to open
		// starts the loop again.
		close(p.stop)
		p.stop = nil
	}
}

// refresh gets the next token ahead of the current one's expiry and hands
// it to every connection, until stop is closed. A failure is tried again
// after 1 s, 2 s, … up to 30 s.
func (p *Provider) refresh(stop <-chan struct{}) {
	retry := time.Duration(0)
	for {
		p.mu.Lock()
		next := time.Until(p.current.refreshAt())
		p.mu.Unlock()
		if retry > 0 {
			next = retry
		}
		timer := time.NewTimer(next)
		select {
		case <-stop:
			timer.Stop()
			return
		case <-timer.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t, err := p.fetch(ctx)
		cancel()
		p.mu.Lock()
		if err != nil {
			// Not told to the connections: go-redis closes a connection
			// whose listener hears an error, and the current token is still
			// good for the last 30% of its life.
			p.failed(err)
			p.mu.Unlock()
			retry = min(max(2*retry, time.Second), 30*time.Second)
			continue
		}
		retry = 0
		p.succeeded(t)
		listeners := p.listenerList()
		p.mu.Unlock()
		for _, l := range listeners {
			l.OnNext(t.creds) // go-redis sends AUTH on the connection when it is next idle
		}
	}
}

func (p *Provider) listenerList() []auth.CredentialsListener {
	out := make([]auth.CredentialsListener, 0, len(p.listeners))
	for l := range p.listeners {
		out = append(out, l)
	}
	return out
}

// fetch asks the credential for a token and makes Redis credentials of it.
func (p *Provider) fetch(ctx context.Context) (token, error) {
	start := time.Now()
	at, err := p.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{Scope}})
	if err != nil {
		return token{}, err
	}
	user := p.username
	if user == "" {
		if user, err = objectID(at.Token); err != nil {
			return token{}, fmt.Errorf("%w; set OAUTH_CALLBACK_REDIS_USERNAME to the Redis user", err)
		}
	}
	if !at.ExpiresOn.After(start) {
		return token{}, fmt.Errorf("the token for %s expired at %s, before it arrived", Scope, at.ExpiresOn.Format(time.RFC3339))
	}
	return token{creds: auth.NewBasicCredentials(user, at.Token), fetched: start, expiresOn: at.ExpiresOn}, nil
}

// failed and succeeded keep the record of failures and its log: one line a
// minute while tokens cannot be had, one when they can again. p.mu is held.
func (p *Provider) failed(err error) {
	p.lastErr, p.lastErrAt = err, time.Now()
	if p.failing.due(p.lastErrAt) {
		p.log.Error("cannot get a Microsoft Entra ID token for Redis: new Redis connections fail until one is had",
			slog.String("identity", p.identity.String()), slog.Any("error", err),
			slog.Int("failures", p.failing.count), slog.Time("current_token_expires", p.current.expiresOn))
	}
}

func (p *Provider) succeeded(t token) {
	if p.lastErr != nil {
		p.log.Info("got a Microsoft Entra ID token for Redis again", slog.String("identity", p.identity.String()),
			slog.Int("failures", p.failing.count))
	}
	p.lastErr = nil
	p.failing = failureLog{}
	p.current = t
}

// failureLog rate-limits the failure line to one a minute, counting the
// failures in between.
type failureLog struct {
	count  int
	logged time.Time
}

func (f *failureLog) due(now time.Time) bool {
	f.count++
	if f.logged.IsZero() || now.Sub(f.logged) >= time.Minute {
		f.logged = now
		return true
	}
	return false
}

// objectID reads the oid claim of an Entra ID access token (a JWT). The
// token is not verified here: it came from Entra ID over TLS, and Redis
// verifies it.
func objectID(jwt string) (string, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", errors.New("the Entra ID token is not a JWT, so it names no object id")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", fmt.Errorf("the Entra ID token's claims are not base64url: %w", err)
	}
	var claims struct {
		OID string `json:"oid"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", fmt.Errorf("the Entra ID token's claims are not JSON: %w", err)
	}
	if claims.OID == "" {
		return "", errors.New("the Entra ID token has no oid claim")
	}
	return claims.OID, nil
}

var _ auth.StreamingCredentialsProvider = (*Provider)(nil)
