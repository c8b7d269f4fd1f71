// Package redisauth signs the Redis store in with a cloud identity instead
// of a password: one mechanism, Provider, that fetches short-lived tokens,
// renews them before they expire and hands each new one to every live
// connection (go-redis's streaming credentials), and three small sources
// of tokens, one a file:
//
//   - entra.go: Microsoft Entra ID, for Azure Managed Redis and Azure Cache
//     for Redis (an access token, the identity's object id as the user);
//   - aws.go: AWS IAM, for ElastiCache and MemoryDB (a SigV4-presigned
//     "connect" request for the cache's IAM-enabled user, 15 minutes);
//   - gcp.go: Google Cloud IAM, for Memorystore (the service account's
//     access token, as the default user).
//
// A source only says how to get one token and who it signs in as; what
// happens when it cannot (wait at start-up, keep the current token, one
// log line a minute, fail new connections only when no valid token is
// left) is the Provider's, the same for every cloud.
package redisauth

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9/auth"
)

// Source is where one cloud's tokens come from.
type Source interface {
	// Token gets a new token (or the cloud's current one): the Redis user
	// and password, and when Redis stops accepting the password.
	Token(ctx context.Context) (Token, error)
	// Identity is who the tokens sign in as, for the log and check.
	Identity() Identity
}

// Token is one sign-in to Redis.
type Token struct {
	Username, Password string
	ExpiresOn          time.Time
}

// Identity says which identity the service signs in as: the service that
// vouches for it ("Microsoft Entra ID", "AWS IAM", "Google Cloud IAM") and
// the identity itself, as configured ("workload identity, client id …").
type Identity struct {
	Cloud string
	Who   string
	// Node: the identity is the node's (an EC2 instance profile, a
	// Compute Engine default service account), not the pod's: every pod
	// on the node may sign in as it too.
	Node bool
}

func (i Identity) String() string { return i.Who }

// Provider gives go-redis a Source's credentials
// (auth.StreamingCredentialsProvider): a new connection gets the current
// token, and while any connection is open a background loop gets the next
// token once 70% of the current one's lifetime has passed and hands it to
// every connection. go-redis authenticates a pooled connection again
// (AUTH) as it returns to the pool, without reconnecting; a pub/sub
// connection never returns, so redisstore, subscribed here too, opens its
// wake-ups' connections again with each new token (redisstore.Options'
// Credentials).
//
// When no token can be had, a new connection fails to open (so requests
// get the store's 503 within its timeout, and /readyz fails); live
// connections keep working until Redis closes them at the old token's
// expiry; one log line a minute names the identity and the cause; and the
// loop keeps trying, so recovery needs no restart.
type Provider struct {
	src      Source
	identity Identity
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

// token is one Token as Redis is given it.
type token struct {
	creds              auth.Credentials
	password           string
	fetched, expiresOn time.Time
}

func (t token) valid(now time.Time) bool { return t.creds != nil && now.Before(t.expiresOn) }

// refreshAt is when the next token is asked for: 70% into this one's
// life, as go-redis-entraid does by default, which leaves an identity
// service's outages of a few minutes time to pass (Entra ID's and Google's
// tokens live an hour, AWS's connect tokens 15 minutes), and renews an AWS
// connection long before ElastiCache's 12-hour limit on one sign-in.
func (t token) refreshAt() time.Time {
	return t.fetched.Add(time.Duration(float64(t.expiresOn.Sub(t.fetched)) * 0.7))
}

// Options configure a Provider.
type Options struct {
	// Timeout bounds one token request made while a connection opens.
	Timeout time.Duration
	Log     *slog.Logger
}

// NewProvider returns a Provider of src's tokens.
func NewProvider(src Source, opts Options) *Provider {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Provider{
		src: src, identity: src.Identity(), timeout: opts.Timeout, log: opts.Log,
		listeners: map[auth.CredentialsListener]struct{}{},
	}
}

// Identity is who the provider signs in as; after a first token, what the
// source learnt on the way (an AWS role, a Google service account).
func (p *Provider) Identity() Identity { return p.src.Identity() }

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
	same := false
	for {
		p.mu.Lock()
		next := time.Until(p.current.refreshAt())
		p.mu.Unlock()
		if same {
			// A source that hands out the same token until shortly before
			// its expiry (a metadata server's cache) is asked at most once
			// a second, not ever more often as the expiry nears.
			next = max(next, time.Second)
		}
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
		same = t.password == p.current.password
		p.succeeded(t)
		listeners := p.listenerList()
		p.mu.Unlock()
		if same {
			continue // the connections signed in with it already
		}
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

// fetch asks the source for a token and makes Redis credentials of it.
func (p *Provider) fetch(ctx context.Context) (token, error) {
	start := time.Now()
	t, err := p.src.Token(ctx)
	if err != nil {
		return token{}, err
	}
	if !t.ExpiresOn.After(start) {
		return token{}, fmt.Errorf("the %s token expired at %s, before it arrived", p.identity.Cloud, t.ExpiresOn.Format(time.RFC3339))
	}
	return token{creds: auth.NewBasicCredentials(t.Username, t.Password), password: t.Password, fetched: start, expiresOn: t.ExpiresOn}, nil
}

// failed and succeeded keep the record of failures and its log: one line a
// minute while tokens cannot be had, one when they can again. p.mu is held.
// Neither line carries a token.
func (p *Provider) failed(err error) {
	p.lastErr, p.lastErrAt = err, time.Now()
	if p.failing.due(p.lastErrAt) {
		p.log.Error("cannot get "+article(p.identity.Cloud)+" token for Redis: new Redis connections fail until one is had",
			slog.String("identity", p.src.Identity().String()), slog.Any("error", err),
			slog.Int("failures", p.failing.count), slog.Time("current_token_expires", p.current.expiresOn))
	}
}

func (p *Provider) succeeded(t token) {
	if p.lastErr != nil {
		p.log.Info("got "+article(p.identity.Cloud)+" token for Redis again", slog.String("identity", p.src.Identity().String()),
			slog.Int("failures", p.failing.count))
	}
	p.lastErr = nil
	p.failing = failureLog{}
	p.current = t
}

// article is "a Microsoft Entra ID", "an AWS IAM".
func article(cloud string) string {
	if strings.HasPrefix(cloud, "A") {
		return "an " + cloud
	}
	return "a " + cloud
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

var _ auth.StreamingCredentialsProvider = (*Provider)(nil)
