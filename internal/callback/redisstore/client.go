package redisstore

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/auth"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Config is the Redis store's own configuration (the OAUTH_CALLBACK_REDIS_*
// variables and OAUTH_CALLBACK_STORE_TIMEOUT): how to reach Redis, one of a
// URL (standalone), Sentinel addresses with a master name, or Cluster seed
// addresses, and how the store uses it.
type Config struct {
	// URL is a redis://, rediss:// or unix:// URL in go-redis's syntax.
	URL string
	// SentinelAddrs and SentinelMaster select Redis Sentinel: the client
	// asks the sentinels for the current primary and follows failovers.
	SentinelAddrs    []string
	SentinelMaster   string
	SentinelPassword string
	// ClusterAddrs selects Redis Cluster; any reachable nodes will do as
	// seeds.
	ClusterAddrs []string
	// Username and Password (ACL), when set, replace the URL's, so that
	// they can live in a Kubernetes Secret apart from the URL.
	Username string
	Password string
	// PasswordFile, when set, holds the password instead (a mounted
	// Secret, which Kubernetes updates in place when it rotates): it is
	// read again for every new connection, so a rotated password is used
	// from the next one on. Trailing white space is not part of it.
	PasswordFile string
	// Auth is how the store signs in to Redis: AuthPassword (Username and
	// Password, PasswordFile, the URL's, or none), or a cloud identity's
	// tokens from Credentials: AuthEntra (Microsoft Entra ID), AuthAWS
	// (AWS IAM) or AuthGCP (Google Cloud IAM).
	Auth string
	// Credentials, with a cloud identity, hands out the user and token of
	// every connection and renews them on live ones (the process sets it,
	// from package redisauth); not a variable.
	Credentials auth.StreamingCredentialsProvider
	// TLS, when set, is used for every connection (a rediss:// URL sets
	// one too). config.Load builds it from REDIS_TLS and the three files.
	TLS *tls.Config
	// Timeout bounds dialling, every read and write, and the wait for a
	// pooled connection, so a Redis that is gone costs a request at most
	// about this long; the HTTP API bounds each store call by it too.
	Timeout time.Duration

	// KeyPrefix starts every key, so that several deployments can share
	// one Redis.
	KeyPrefix string
	// MinReplicas, when positive, makes Put wait (WAIT) up to
	// MinReplicasTimeout for that many replicas to acknowledge the
	// callback. Not with Cluster.
	MinReplicas        int
	MinReplicasTimeout time.Duration
	// AutoPipeline sends the store's script calls through go-redis's
	// auto-pipeliner (autoPipelined): less CPU per operation, but a call is
	// bounded by the socket timeouts rather than by Timeout.
	AutoPipeline bool
}

// The values of Config.Auth.
const (
	AuthPassword = "password"
	AuthEntra    = "entra"
	AuthAWS      = "aws"
	AuthGCP      = "gcp"
)

// SignsInWithIdentity reports whether the store signs in with a cloud
// identity's tokens (Credentials) rather than a password.
func (c Config) SignsInWithIdentity() bool {
	return c.Auth == AuthEntra || c.Auth == AuthAWS || c.Auth == AuthGCP
}

// DefaultConfig is the Redis store's configuration when nobody sets one:
// no address, which config.Load reads as "use the memory store".
func DefaultConfig() Config {
	return Config{Auth: AuthPassword, Timeout: time.Second, KeyPrefix: "oauth-callback:", MinReplicasTimeout: 500 * time.Millisecond}
}

// Topology is the kind of Redis the configuration selects: "redis",
// "redis-sentinel", "redis-cluster", or "" when none is set.
func (c Config) Topology() string {
	switch {
	case len(c.ClusterAddrs) > 0:
		return "redis-cluster"
	case len(c.SentinelAddrs) > 0:
		return "redis-sentinel"
	case c.URL != "":
		return "redis"
	}
	return ""
}

// Cluster reports whether the configuration selects Redis Cluster.
func (c Config) Cluster() bool { return len(c.ClusterAddrs) > 0 }

// NewClient builds the client the Store runs on: a plain, Sentinel-aware or
// Cluster client behind one interface.
//
// Commands are never retried: a take whose reply was lost has already
// deleted the callback, and a retry would answer "not found" for a code
// that nobody received.
func NewClient(cfg Config) (redis.UniversalClient, error) {
	if cfg.SignsInWithIdentity() && cfg.Credentials == nil {
		return nil, fmt.Errorf("redis: %s sign-in without a credentials provider", cfg.Auth)
	}
	opts := &redis.UniversalOptions{}
	switch {
	case cfg.Cluster():
		opts.Addrs = cfg.ClusterAddrs
		opts.IsClusterMode = true
	case len(cfg.SentinelAddrs) > 0:
		opts.Addrs = cfg.SentinelAddrs
		opts.MasterName = cfg.SentinelMaster
		opts.SentinelPassword = cfg.SentinelPassword
	default:
		u, err := redis.ParseURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("parse Redis URL: %w", err)
		}
		if u.Network == "unix" {
			// UniversalOptions has no network: a plain client does.
			return withAutoPipeline(newUnixClient(u, cfg), cfg.AutoPipeline)
		}
		opts.Addrs = []string{u.Addr}
		opts.Username, opts.Password, opts.DB, opts.TLSConfig = u.Username, u.Password, u.DB, u.TLSConfig
	}
	if cfg.Username != "" {
		opts.Username = cfg.Username
	}
	if cfg.Password != "" {
		opts.Password = cfg.Password
	}
	opts.CredentialsProviderContext = passwordFromFile(cfg.PasswordFile, opts.Username)
	if cfg.SignsInWithIdentity() {
		opts.StreamingCredentialsProvider = cfg.Credentials
	}
	if cfg.TLS != nil {
		t := cfg.TLS.Clone()
		if t.ServerName == "" && opts.TLSConfig != nil {
			t.ServerName = opts.TLSConfig.ServerName // from a rediss:// URL
		}
		opts.TLSConfig = t
	}
	opts.MaintNotificationsConfig = maintNotifications(cfg)
	opts.MaxRetries = -1
	opts.MaxRedirects = 3 // Cluster: MOVED/ASK after a failover are answers, not retries
	opts.DialTimeout = cfg.Timeout
	opts.ReadTimeout = cfg.Timeout
	opts.WriteTimeout = cfg.Timeout
	opts.PoolTimeout = cfg.Timeout
	opts.ContextTimeoutEnabled = true
	if cfg.Cluster() {
		co := opts.Cluster()
		// go-redis refreshes its map of slots to nodes on MOVED answers,
		// and otherwise once a minute; a dead primary answers nothing, so
		// the map must be refreshed sooner for the promoted replica to be
		// found (measured: 60 s to recover with the default).
		co.ClusterStateReloadInterval = clusterStateReload
		return withAutoPipeline(redis.NewClusterClient(co), cfg.AutoPipeline)
	}
	return withAutoPipeline(redis.NewUniversalClient(opts), cfg.AutoPipeline)
}

// clusterStateReload is how stale the Cluster slot map may get: the time a
// failover can take to be noticed. Each refresh is one CLUSTER SLOTS.
const clusterStateReload = 2 * time.Second

func newUnixClient(opts *redis.Options, cfg Config) redis.UniversalClient {
	if cfg.Username != "" {
		opts.Username = cfg.Username
	}
	if cfg.Password != "" {
		opts.Password = cfg.Password
	}
	opts.CredentialsProviderContext = passwordFromFile(cfg.PasswordFile, opts.Username)
	if cfg.SignsInWithIdentity() {
		opts.StreamingCredentialsProvider = cfg.Credentials
	}
	opts.MaintNotificationsConfig = maintNotifications(cfg)
	opts.MaxRetries = -1
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.PoolTimeout = cfg.Timeout, cfg.Timeout, cfg.Timeout, cfg.Timeout
	opts.ContextTimeoutEnabled = true
	return redis.NewClient(opts)
}

// maintNotifications turns go-redis's maintenance notifications off
// except with Entra ID: they are Redis Enterprise's (Azure Managed Redis),
// and every other server the store runs on (ElastiCache, MemoryDB,
// Memorystore, open-source Redis and Valkey) answers the handshake that
// go-redis otherwise sends on a new connection with an error.
func maintNotifications(cfg Config) *maintnotifications.Config {
	if cfg.Auth == AuthEntra {
		return nil // go-redis's default: try, and stay quiet if refused
	}
	return &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
}

// passwordFromFile gives go-redis the password in path, read when a
// connection is made; nil (the static password) without a path.
func passwordFromFile(path, username string) func(context.Context) (string, string, error) {
	if path == "" {
		return nil
	}
	return func(context.Context) (string, string, error) {
		b, err := os.ReadFile(path) // #nosec G304 -- the operator's OAUTH_CALLBACK_REDIS_PASSWORD_FILE
		if err != nil {
			return "", "", fmt.Errorf("read OAUTH_CALLBACK_REDIS_PASSWORD_FILE: %w", err)
		}
		return username, strings.TrimRight(string(b), " \t\r\n"), nil
	}
}

// MinVersion is the oldest Redis the store runs on: the oldest it is
// tested on (Debian 12's), and the first with sharded pub/sub, which
// wake-ups use on Cluster. Valkey reports such a redis_version too.
const MinVersion = "7.0.0"

// CheckVersion fails unless the server is Redis ≥ MinVersion (or a fork
// that reports such a redis_version, like Valkey).
func CheckVersion(ctx context.Context, client redis.UniversalClient) error {
	info, err := client.Info(ctx, "server").Result()
	var reply redis.Error
	if errors.As(err, &reply) {
		// Redis answered, with a refusal (wrong password, no such user,
		// not allowed): waiting will not change that.
		return fmt.Errorf("redis refused the connection: %w", err)
	}
	if err != nil {
		return storeError("read server version", err)
	}
	v := infoField(info, "redis_version")
	if v == "" {
		return fmt.Errorf("redis did not report redis_version in INFO server")
	}
	ok, err := atLeast(v, MinVersion)
	if err != nil {
		return fmt.Errorf("redis reported version %q: %w", v, err)
	}
	if !ok {
		return fmt.Errorf("redis %s is too old: the store needs Redis %s or newer (or Valkey 7.2)", v, MinVersion)
	}
	return nil
}

func infoField(info, name string) string {
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// atLeast compares dotted numeric versions ("7.2.4" ≥ "7.0.0").
func atLeast(version, min string) (bool, error) {
	parse := func(s string) ([3]int, error) {
		var out [3]int
		parts := strings.SplitN(s, ".", 3)
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil {
				return out, fmt.Errorf("not a version number")
			}
			out[i] = n
		}
		return out, nil
	}
	v, err := parse(version)
	if err != nil {
		return false, err
	}
	m, err := parse(min)
	if err != nil {
		return false, err
	}
	for i := range v {
		if v[i] != m[i] {
			return v[i] > m[i], nil
		}
	}
	return true, nil
}
