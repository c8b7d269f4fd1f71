// Package authtest plays the cloud side of redisauth's tests: the
// identity services (AWS STS and EKS Pod Identity, Google's metadata
// server and token endpoint) on local HTTP(S) servers, and a managed
// Redis's sign-in on real redis-servers, whose ACL accepts exactly the
// tokens that the service vouching for them would, and only until they
// expire.
package authtest

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/redisauth"
)

// Cache plays a managed Redis's sign-in: a password that Verify accepts
// becomes one of User's passwords on every node (ACLs are per node), and
// the passwords past their expiry are removed whenever another is added;
// WithdrawAll is what the service does when the last one expires.
type Cache struct {
	Admins []*redis.Client // one per node, signed in as the admin user
	User   string
	// Verify checks a password as the cloud would and says until when it
	// is good.
	Verify func(user, password string) (time.Time, error)

	mu       sync.Mutex
	accepted int
	last     time.Time // the expiry of the newest password
	live     []password
}

type password struct {
	value   string
	expires time.Time
}

// AdminUser and AdminPassword are the user the test itself signs in as, so
// that the cloud's user (which may be "default") is the cloud's alone.
const (
	AdminUser     = "suite-admin"
	AdminPassword = "suite-admin-secret" // #nosec G101 -- the local stand-in's own password, in tests only
)

// AdminArgs are redis-server options that create the admin user and give
// the default user no password, so that only the admin and the cloud's
// tokens sign in.
func AdminArgs() []string {
	return []string{"--user", "default", "on", "resetpass", "~*", "&*", "+@all", "--user", AdminUser, "on", ">" + AdminPassword, "~*", "&*", "+@all"}
}

// NewCache connects an admin client to each node (with tlsConfig, when not
// nil) and gives user no password yet.
func NewCache(ctx context.Context, addrs []string, tlsConfig *tls.Config, user string, verify func(user, password string) (time.Time, error)) (*Cache, error) {
	c := &Cache{User: user, Verify: verify}
	for _, a := range addrs {
		admin := redis.NewClient(&redis.Options{Addr: a, Username: AdminUser, Password: AdminPassword, TLSConfig: tlsConfig})
		c.Admins = append(c.Admins, admin)
		if err := admin.Do(ctx, "ACL", "SETUSER", user, "on", "resetpass", "~*", "&*", "+@all").Err(); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("create the cloud's user on %s: %w", a, err)
		}
	}
	return c, nil
}

// Close closes the admin clients.
func (c *Cache) Close() error {
	for _, a := range c.Admins {
		_ = a.Close()
	}
	return nil
}

// Accept checks password as the cloud would and, if it is good, makes it
// one of the user's passwords on every node.
func (c *Cache) Accept(ctx context.Context, user, pw string) error {
	if user != c.User {
		return fmt.Errorf("signed in as %q, but the cache's IAM user is %q", user, c.User)
	}
	expires, err := c.Verify(user, pw)
	if err != nil {
		return err
	}
	now := time.Now()
	if !now.Before(expires) {
		return fmt.Errorf("the token expired at %s", expires.Format(time.RFC3339Nano))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if slices.ContainsFunc(c.live, func(p password) bool { return p.value == pw }) {
		return nil
	}
	args := []any{"ACL", "SETUSER", c.User, "on", ">" + pw}
	keep := c.live[:0]
	for _, old := range c.live {
		if now.After(old.expires) {
			args = append(args, "<"+old.value)
		} else {
			keep = append(keep, old)
		}
	}
	for _, admin := range c.Admins {
		if err := admin.Do(ctx, args...).Err(); err != nil {
			return err
		}
	}
	c.live = append(keep, password{pw, expires})
	c.accepted++
	c.last = expires
	return nil
}

// WithdrawAll is what a managed Redis does at a token's expiry: no token
// is a password any more, and the connections signed in with one are
// closed.
func (c *Cache) WithdrawAll(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, admin := range c.Admins {
		if err := admin.Do(ctx, "ACL", "SETUSER", c.User, "resetpass").Err(); err != nil {
			return err
		}
		if err := admin.Do(ctx, "CLIENT", "KILL", "USER", c.User).Err(); err != nil {
			return err
		}
	}
	c.live = nil
	return nil
}

// Accepted is how many different tokens were accepted.
func (c *Cache) Accepted() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.accepted
}

// LastExpiry is when the newest accepted token expires.
func (c *Cache) LastExpiry() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// Installing is src whose every token is offered to the cache as it is
// handed out: what the managed service would check when the token arrives
// in AUTH, checked a moment earlier. A token the cache refuses is an
// error, so the Provider never signs in with it.
func Installing(src redisauth.Source, cache *Cache) redisauth.Source {
	return installing{src, cache}
}

type installing struct {
	redisauth.Source
	cache *Cache
}

func (i installing) Token(ctx context.Context) (redisauth.Token, error) {
	t, err := i.Source.Token(ctx)
	if err != nil {
		return t, err
	}
	if err := i.cache.Accept(ctx, t.Username, t.Password); err != nil {
		return redisauth.Token{}, fmt.Errorf("the cache refused the token: %w", err)
	}
	return t, nil
}
