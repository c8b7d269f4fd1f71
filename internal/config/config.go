// Package config reads every setting of oauth-callback-server from
// OAUTH_CALLBACK_* environment variables and validates it, so that a bad
// value stops start-up with one clear line instead of a surprise later.
//
// The settings belong to the components that use them: Config is made of
// their Config structs, each with its defaults in its own package
// (httpapi.DefaultConfig, redisstore.DefaultConfig, …), and variables.go is
// the one list of variables that fills them, -h's table and
// docs/configuration.md's (a test holds the two to it).
package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/apps"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/memstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/redisstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/httpapi"
	"github.com/oauth-callback-server/oauth-callback-server/internal/memlimit"
	"github.com/oauth-callback-server/oauth-callback-server/internal/page"
	"github.com/oauth-callback-server/oauth-callback-server/internal/redisauth"
	"github.com/oauth-callback-server/oauth-callback-server/internal/units"
)

// Config is the whole configuration of one process, by component.
type Config struct {
	Listen   Listen
	Log      Log
	Shutdown Shutdown

	// Store is what every store is configured with; Memory and Redis what
	// each has of its own. Redis.Topology() picks the store.
	Store  callback.StoreConfig
	Memory memstore.Config
	Redis  redisstore.Config
	// RedisAWS is what AWS IAM tokens are signed for (REDIS_AUTH=aws).
	RedisAWS redisauth.AWSConfig

	HTTP  httpapi.Config
	Pages page.Config

	// EncryptionKeys are the server secrets: the first seals stored
	// callbacks, names Redis keys, hashes states in logs and keys the
	// sign-in links' browser binding; every one is tried when reading.
	EncryptionKeys []string
	// MemoryLimit is the container's memory limit in bytes; 0 unknown.
	// GOMEMLIMIT: the operator set GOMEMLIMIT, which wins.
	MemoryLimit int64
	GOMEMLIMIT  bool

	// PageRenderer is Pages, checked and parsed by Load.
	PageRenderer *page.Renderer

	redisTLS redisTLS // the REDIS_TLS* variables, which Load makes Redis.TLS of
	// apiTokens and appsFile are OAUTH_CALLBACK_API_TOKENS and _APPS_FILE,
	// which Load resolves into HTTP.Apps and Store.AppShares.
	apiTokens []string
	appsFile  string
	// maxWaitersGiven: OAUTH_CALLBACK_MAX_WAITERS is set, so it is not
	// derived from MemoryLimit.
	maxWaitersGiven bool
}

// Listen is where the process listens.
type Listen struct {
	Host string
	Port int
	// MetricsAddr is a separate listener for /metrics; empty: on the main
	// one.
	MetricsAddr string
}

// Addr is the listen address.
func (l Listen) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

// Log is how the process logs.
type Log struct {
	Level  slog.Level
	Format string // "json" or "text"
}

// Shutdown is how the process stops on SIGTERM.
type Shutdown struct {
	DrainDelay time.Duration // not ready, still serving, before shutdown starts
	Timeout    time.Duration // for in-flight requests to finish
}

// Default is the configuration of a process given no variable: each
// component's defaults, and the process's own.
func Default() Config {
	return Config{
		Listen:   Listen{Host: "0.0.0.0", Port: 8000},
		Log:      Log{Level: slog.LevelInfo, Format: "json"},
		Shutdown: Shutdown{DrainDelay: 5 * time.Second, Timeout: 10 * time.Second},
		Store:    callback.DefaultStoreConfig(),
		Memory:   memstore.DefaultConfig(),
		Redis:    redisstore.DefaultConfig(),
		RedisAWS: redisauth.AWSConfig{Service: redisauth.AWSElastiCache},
		HTTP:     httpapi.DefaultConfig(),
	}
}

// Error is an invalid setting. Its message names the variable and says what
// a valid value looks like; secrets are not echoed.
type Error struct {
	Var    string
	Value  string
	Reason string
	secret bool
}

func (e *Error) Error() string {
	if e.secret {
		return fmt.Sprintf("%s: %s", e.Var, e.Reason)
	}
	return fmt.Sprintf("%s=%q: %s", e.Var, e.Value, e.Reason)
}

// Load reads every variable through getenv (os.Getenv in production); an
// unset or empty one keeps Default's value. It reports every invalid
// variable at once, each as an *Error on a line of its own (errors.Join),
// so that an operator fixes them in one go.
func Load(getenv func(string) string) (Config, error) {
	var (
		c    = Default()
		errs []error
	)
	for _, v := range variables {
		given := getenv(v.name)
		raw := strings.TrimSpace(given)
		if raw == "" && given != "" && v.blankRefused {
			errs = append(errs, &Error{Var: v.name, Reason: "set but blank: unset it, or give a value", secret: v.secret})
			continue
		}
		if raw == "" {
			continue
		}
		if err := v.set(&c, raw); err != nil {
			errs = append(errs, &Error{Var: v.name, Value: raw, Reason: err.Error(), secret: v.secret})
		}
	}
	if len(errs) == 0 { // what values that are each valid make together
		if err := checkRedisTopology(&c); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, checkSignInLinks(&c)...)
		errs = append(errs, c.resolveApps()...)
		errs = append(errs, c.loadFiles()...)
		if err := c.deriveMaxWaiters(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	c.GOMEMLIMIT = getenv("GOMEMLIMIT") != ""
	return c, nil
}

// redisTLS is what the OAUTH_CALLBACK_REDIS_TLS* variables ask for, read by
// loadFiles into Redis.TLS.
type redisTLS struct {
	on                        bool
	caFile, certFile, keyFile string
}

// loadFiles reads what the settings name: the Redis TLS files and the page
// templates, so that a file that is missing or wrong stops start-up here,
// with the variable that names it, like any other bad value.
func (c *Config) loadFiles() []error {
	var errs []error
	fail := func(name, value, reason string) { errs = append(errs, &Error{Var: name, Value: value, Reason: reason}) }
	var err error
	if c.PageRenderer, err = page.New(c.Pages); err != nil {
		fail("OAUTH_CALLBACK_TEMPLATES_DIR", c.Pages.TemplatesDir, err.Error())
	}
	rt := c.redisTLS
	if !rt.on && rt.caFile == "" && rt.certFile == "" {
		return errs
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if rt.caFile != "" {
		pem, err := os.ReadFile(rt.caFile)
		t.RootCAs = x509.NewCertPool()
		switch {
		case err != nil:
			fail("OAUTH_CALLBACK_REDIS_TLS_CA_FILE", rt.caFile, err.Error())
		case !t.RootCAs.AppendCertsFromPEM(pem):
			fail("OAUTH_CALLBACK_REDIS_TLS_CA_FILE", rt.caFile, "no PEM certificate in the file")
		}
	}
	if rt.certFile != "" {
		cert, err := tls.LoadX509KeyPair(rt.certFile, rt.keyFile)
		if err != nil {
			fail("OAUTH_CALLBACK_REDIS_TLS_CERT_FILE", rt.certFile, err.Error())
		}
		t.Certificates = []tls.Certificate{cert}
	}
	c.Redis.TLS = t
	return errs
}

// checkSignInLinks: sign-in links need the public URL (the start URL and
// the redirect_uri check) and a server secret (the browser binding); each
// missing one is an error of its own.
func checkSignInLinks(c *Config) []error {
	if len(c.HTTP.SignInLinks.AuthorizeHosts) == 0 {
		return nil
	}
	var errs []error
	if c.HTTP.SignInLinks.PublicURL == "" {
		errs = append(errs, &Error{Var: "OAUTH_CALLBACK_PUBLIC_URL", Reason: "must be set when OAUTH_CALLBACK_AUTHORIZE_HOSTS is: sign-in links start there"})
	}
	if len(c.EncryptionKeys) == 0 {
		errs = append(errs, &Error{Var: "OAUTH_CALLBACK_ENCRYPTION_KEY", Reason: "must be set when OAUTH_CALLBACK_AUTHORIZE_HOSTS is: it keys the browser binding of sign-in links", secret: true})
	}
	return errs
}

// checkRedisTopology refuses combinations that cannot work.
func checkRedisTopology(c *Config) *Error {
	r := c.Redis
	n := 0
	for _, set := range []bool{r.URL != "", len(r.SentinelAddrs) > 0, len(r.ClusterAddrs) > 0} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return &Error{Var: "OAUTH_CALLBACK_REDIS_URL", Reason: "set one of REDIS_URL, REDIS_SENTINEL_ADDRS or REDIS_CLUSTER_ADDRS, not several", secret: true}
	case r.PasswordFile != "" && r.Password != "":
		return &Error{Var: "OAUTH_CALLBACK_REDIS_PASSWORD_FILE", Reason: "set it or OAUTH_CALLBACK_REDIS_PASSWORD, not both", secret: true}
	case r.SignsInWithIdentity() && (r.Password != "" || r.PasswordFile != "" || urlHasPassword(r.URL)):
		return &Error{Var: "OAUTH_CALLBACK_REDIS_AUTH", Value: r.Auth, Reason: "the identity's tokens are the password: remove REDIS_PASSWORD, REDIS_PASSWORD_FILE and the URL's password", secret: true}
	case r.SignsInWithIdentity() && n == 0:
		return &Error{Var: "OAUTH_CALLBACK_REDIS_AUTH", Value: r.Auth, Reason: "signs in to Redis, but no Redis is set (REDIS_URL, REDIS_SENTINEL_ADDRS or REDIS_CLUSTER_ADDRS)"}
	case len(r.SentinelAddrs) > 0 && r.SentinelMaster == "":
		return &Error{Var: "OAUTH_CALLBACK_REDIS_SENTINEL_MASTER", Reason: "required with REDIS_SENTINEL_ADDRS", secret: true}
	case len(r.ClusterAddrs) > 0 && r.MinReplicas > 0:
		return &Error{Var: "OAUTH_CALLBACK_REDIS_MIN_REPLICAS", Value: strconv.Itoa(r.MinReplicas), Reason: "not supported with Redis Cluster"}
	case len(r.ClusterAddrs) > 0 && r.AutoPipeline:
		// go-redis's Cluster auto-pipeliner re-sends the commands whose
		// replies a connection failure cut off: a take run twice hands its
		// code to nobody (docs/benchmarks.md, "go-redis auto-pipelining").
		return &Error{Var: "OAUTH_CALLBACK_REDIS_AUTO_PIPELINE", Value: "true", Reason: "not supported with Redis Cluster: its auto-pipeliner re-sends commands after a connection failure, and a take must run once"}
	case (c.redisTLS.certFile == "") != (c.redisTLS.keyFile == ""):
		return &Error{Var: "OAUTH_CALLBACK_REDIS_TLS_CERT_FILE", Reason: "give the certificate and its key (REDIS_TLS_KEY_FILE) together", secret: true}
	case r.Auth == redisstore.AuthAWS:
		return checkAWSSignIn(c)
	case r.Auth == redisstore.AuthGCP:
		return checkGCPSignIn(c)
	}
	return nil
}

// checkGCPSignIn: the token is a cloud-platform-scoped Google access
// token; sent in the clear it is good for every Google API the service
// account may call, not just this Memorystore instance.
func checkGCPSignIn(c *Config) *Error {
	r := c.Redis
	switch {
	case r.URL != "" && !strings.HasPrefix(r.URL, "rediss://"):
		return &Error{Var: "OAUTH_CALLBACK_REDIS_URL", Reason: "REDIS_AUTH=gcp needs TLS: its Google access token is good for every Google API the service account may call; use a rediss:// URL", secret: true}
	case r.URL == "" && !c.redisTLS.on:
		return &Error{Var: "OAUTH_CALLBACK_REDIS_TLS", Value: "false", Reason: "REDIS_AUTH=gcp needs TLS: its Google access token is good for every Google API the service account may call; set it to true"}
	}
	return nil
}

// checkAWSSignIn: ElastiCache and MemoryDB take IAM tokens over TLS only,
// for a named cache and its IAM-enabled user; a plain connection would
// send a 15-minute credential in the clear, and fail anyway.
func checkAWSSignIn(c *Config) *Error {
	r := c.Redis
	switch {
	case r.URL != "" && !strings.HasPrefix(r.URL, "rediss://"):
		return &Error{Var: "OAUTH_CALLBACK_REDIS_URL", Reason: "REDIS_AUTH=aws needs TLS: ElastiCache and MemoryDB take IAM tokens over TLS only; use a rediss:// URL", secret: true}
	case r.URL == "" && !c.redisTLS.on:
		return &Error{Var: "OAUTH_CALLBACK_REDIS_TLS", Value: "false", Reason: "REDIS_AUTH=aws needs TLS: ElastiCache and MemoryDB take IAM tokens over TLS only; set it to true"}
	case r.Username == "":
		return &Error{Var: "OAUTH_CALLBACK_REDIS_USERNAME", Reason: "REDIS_AUTH=aws needs the cache's IAM-enabled user (on ElastiCache its user id and name are the same)"}
	case c.RedisAWS.CacheName == "":
		return &Error{Var: "OAUTH_CALLBACK_REDIS_AWS_CACHE_NAME", Reason: "REDIS_AUTH=aws needs the replication group id, serverless cache name or MemoryDB cluster name the tokens are signed for"}
	case c.RedisAWS.CacheName != strings.ToLower(c.RedisAWS.CacheName):
		return &Error{Var: "OAUTH_CALLBACK_REDIS_AWS_CACHE_NAME", Value: c.RedisAWS.CacheName, Reason: "must be in lower case, as AWS signs it"}
	}
	return nil
}

// resolveApps reads the apps file and joins the tokens of API_TOKENS to
// its apps (apps.Resolve): HTTP.Apps, and each app's share of the byte
// budget, Store.AppShares. Every problem of the file is reported at once.
func (c *Config) resolveApps() []error {
	var (
		file []apps.App
		errs []error
	)
	variable := "OAUTH_CALLBACK_API_TOKENS"
	if c.appsFile != "" {
		variable = "OAUTH_CALLBACK_APPS_FILE"
		var problems []error
		if file, problems = apps.ReadFile(c.appsFile); len(problems) > 0 {
			for _, p := range problems {
				errs = append(errs, &Error{Var: variable, Value: c.appsFile, Reason: p.Error()})
			}
			return errs
		}
	}
	resolved, problems := apps.Resolve(c.apiTokens, file)
	for _, p := range problems {
		errs = append(errs, &Error{Var: variable, Reason: p.Error(), secret: true})
	}
	c.HTTP.Apps = resolved
	c.Store.AppShares = apps.MemoryShares(resolved)
	return errs
}

// Derived long-polls fewer than this are a limit too small to run in, as
// the chart has refused since it sized them.
const minDerivedWaiters = 100

// deriveMaxWaiters sizes the long-polls a replica holds from its memory
// limit (memlimit.Waiters) unless OAUTH_CALLBACK_MAX_WAITERS says; with the
// memory store, its byte budget lives in the process too. An unknown limit
// keeps the default.
func (c *Config) deriveMaxWaiters() *Error {
	if !c.MaxWaitersDerived() {
		return nil
	}
	var held int64
	if !c.UsesRedis() {
		held = c.Store.MaxBytes
	}
	n := memlimit.Waiters(c.MemoryLimit, held)
	if n < minDerivedWaiters {
		store := ""
		if held > 0 {
			store = ", lower OAUTH_CALLBACK_MAX_MEMORY (the memory store keeps its callbacks in the process)"
		}
		return &Error{Var: "OAUTH_CALLBACK_MEMORY_LIMIT", Value: units.FormatBytes(c.MemoryLimit),
			Reason: fmt.Sprintf("leaves room for %d long-polls (%.0f%% of it for the Go runtime, less %s for the process and %s for the memory store's callbacks, at %d bytes each), fewer than %d: raise it%s, or set OAUTH_CALLBACK_MAX_WAITERS",
				max(n, 0), 100*memlimit.RuntimeShare, units.FormatBytes(memlimit.BaseBytes), showBytes(held), memlimit.BytesPerWaiter, minDerivedWaiters, store)}
	}
	c.HTTP.LongPoll.MaxWaiters = int(min(n, maxWaiters))
	return nil
}

// MaxWaitersDerived reports whether HTTP.LongPoll.MaxWaiters is what fits
// in MemoryLimit rather than OAUTH_CALLBACK_MAX_WAITERS or the default.
func (c Config) MaxWaitersDerived() bool { return !c.maxWaitersGiven && c.MemoryLimit > 0 }

// urlHasPassword reports whether a Redis URL carries a password.
func urlHasPassword(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return false
	}
	_, set := u.User.Password()
	return set
}

// StoreName is the store a configuration selects, decided here once:
// "memory", "redis", "redis-sentinel" or "redis-cluster" (Load refuses
// several).
func (c Config) StoreName() string {
	if t := c.Redis.Topology(); t != "" {
		return t
	}
	return "memory"
}

// UsesRedis reports whether a Redis topology is configured.
func (c Config) UsesRedis() bool { return c.Redis.Topology() != "" }
