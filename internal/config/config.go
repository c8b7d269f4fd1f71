// Package config reads every setting of oauth-callback-server from
// OAUTH_CALLBACK_* environment variables and validates it, so that a bad
// value stops start-up with one clear line instead of a surprise later.
package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/page"
)

// Config is the whole configuration of one process.
type Config struct {
	Host string
	Port int

	// RedisURL selects the Redis store; empty selects the memory store.
	RedisURL       string
	RedisPassword  string
	RedisKeyPrefix string
	// Other topologies, instead of RedisURL.
	RedisSentinelAddrs      []string
	RedisSentinelMaster     string
	RedisSentinelPassword   string
	RedisClusterAddrs       []string
	RedisUsername           string
	RedisTLSCAFile          string // custom CA for rediss:// or RedisTLS
	RedisTLSCertFile        string // client certificate
	RedisTLSKeyFile         string
	RedisTLS                bool // TLS for Sentinel and Cluster (a rediss:// URL implies it)
	RedisMinReplicas        int  // WAIT for this many replicas after each stored callback
	RedisMinReplicasTimeout time.Duration

	TTL              time.Duration // how long a callback waits to be taken
	MaxEntries       int           // memory store bound
	MaxMemory        int64         // bytes of callbacks kept, on either store
	MaxCallbackBytes int           // what one callback may carry
	StoreTimeout     time.Duration // bound on every store operation

	CORSOrigins []string

	// Security: all off or permissive by default, since the field client
	// sends no token and registers nothing.
	APITokens           []string       // required on /api when set
	RequireRegistration bool           // callbacks only for registered states
	RateLimitCallback   int            // per client IP per minute on /callback; 0 off
	RateLimitAPI        int            // per token (or IP) per minute on /api; 0 off
	RateLimitRegister   int            // registrations per token (or IP) per minute; 0 off
	TrustedProxies      []netip.Prefix // may set X-Forwarded-For
	EncryptionKeys      []string       // server secrets for the at-rest encryption; the first seals, all open
	StateMinLength      int

	// Sign-in links (MCP URL elicitation): off unless AuthorizeHosts is set.
	PublicURL      string   // the service's public base URL, without a trailing slash
	AuthorizeHosts []string // hosts an authorization_url may point to
	ReturnHosts    []string // hosts a return_url may point to
	ReturnRedirect bool     // send the browser to return_url instead of offering a link

	// Derived, and checked, by Load: the TLS configuration for Redis (nil:
	// none beyond what a rediss:// URL brings), and the callback pages.
	RedisTLSConfig *tls.Config
	Pages          *page.Renderer

	TemplatesDir   string        // success.html, error.html, expired.html
	ProductName    string        // shown on the callback page
	PageCloseAfter time.Duration // success pages close themselves; 0 never

	MemoryLimit int64         // the container's memory limit, bytes; 0 unknown
	GOMEMLIMIT  bool          // the operator set GOMEMLIMIT: it wins
	MaxWait     time.Duration // longest long-poll a client may ask for
	MaxWaiters  int           // long-polls held at once; more are answered at once
	Recheck     time.Duration // how often a waiting long-poll looks again
	MetricsAddr string        // separate listener for /metrics; empty: on the main one

	LogLevel  slog.Level
	LogFormat string // "json" or "text"

	DrainDelay      time.Duration // not ready, still serving, before shutdown starts
	ShutdownTimeout time.Duration // for in-flight requests to finish

	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
}

// Addr is the listen address.
func (c Config) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

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

// variable is one setting: its name, default, help line and parser.
type variable struct {
	name   string
	def    string
	help   string
	secret bool
	// blankRefused: set to nothing but blanks (a space, a newline from a
	// mounted Secret) is an error, not the default. For settings whose
	// default turns a protection off.
	blankRefused bool
	set          func(c *Config, v string) error
}

// variables lists every setting, in the order -h shows them.
var variables = []variable{
	{name: "OAUTH_CALLBACK_HOST", def: "0.0.0.0", help: "address to listen on",
		set: func(c *Config, v string) error { c.Host = v; return nil }},
	{name: "OAUTH_CALLBACK_PORT", def: "8000", help: "port to listen on (0 picks a free port)",
		set: func(c *Config, v string) error { return intIn(&c.Port, v, 0, 65535) }},
	{name: "OAUTH_CALLBACK_REDIS_URL", def: "", secret: true,
		help: "redis://[user:password@]host:port[/db], rediss://… (TLS) or unix:///path; empty: in-memory store, one replica only",
		set:  setRedisURL},
	{name: "OAUTH_CALLBACK_REDIS_PASSWORD", def: "", secret: true,
		help: "Redis password; overrides the one in the URL, so it can come from a Secret",
		set:  func(c *Config, v string) error { c.RedisPassword = v; return nil }},
	{name: "OAUTH_CALLBACK_REDIS_SENTINEL_ADDRS", def: "", help: "comma-separated host:port of Redis Sentinels (instead of REDIS_URL); needs REDIS_SENTINEL_MASTER",
		set: func(c *Config, v string) error { return addrList(&c.RedisSentinelAddrs, v) }},
	{name: "OAUTH_CALLBACK_REDIS_SENTINEL_MASTER", def: "", help: "name of the Sentinel-monitored primary, e.g. mymaster",
		set: func(c *Config, v string) error { c.RedisSentinelMaster = v; return nil }},
	{name: "OAUTH_CALLBACK_REDIS_SENTINEL_PASSWORD", def: "", secret: true, help: "password of the Sentinels themselves",
		set: func(c *Config, v string) error { c.RedisSentinelPassword = v; return nil }},
	{name: "OAUTH_CALLBACK_REDIS_CLUSTER_ADDRS", def: "", help: "comma-separated host:port of Redis Cluster seed nodes (instead of REDIS_URL)",
		set: func(c *Config, v string) error { return addrList(&c.RedisClusterAddrs, v) }},
	{name: "OAUTH_CALLBACK_REDIS_USERNAME", def: "", help: "Redis ACL user; overrides the URL's",
		set: func(c *Config, v string) error { c.RedisUsername = v; return nil }},
	{name: "OAUTH_CALLBACK_REDIS_TLS", def: "false", help: "true: TLS to Sentinel or Cluster nodes (a rediss:// URL implies it)",
		set: func(c *Config, v string) error { return boolValue(&c.RedisTLS, v) }},
	{name: "OAUTH_CALLBACK_REDIS_TLS_CA_FILE", def: "", help: "PEM file of the CA that signed the Redis server certificates",
		set: func(c *Config, v string) error { return readableFile(&c.RedisTLSCAFile, v) }},
	{name: "OAUTH_CALLBACK_REDIS_TLS_CERT_FILE", def: "", help: "PEM client certificate for Redis (with REDIS_TLS_KEY_FILE)",
		set: func(c *Config, v string) error { return readableFile(&c.RedisTLSCertFile, v) }},
	{name: "OAUTH_CALLBACK_REDIS_TLS_KEY_FILE", def: "", help: "PEM private key of the Redis client certificate",
		set: func(c *Config, v string) error { return readableFile(&c.RedisTLSKeyFile, v) }},
	{name: "OAUTH_CALLBACK_REDIS_MIN_REPLICAS", def: "0", help: "wait (WAIT) for this many Redis replicas to acknowledge each callback before telling the person it worked; 0 off; not with Cluster",
		set: func(c *Config, v string) error { return intIn(&c.RedisMinReplicas, v, 0, 16) }},
	{name: "OAUTH_CALLBACK_REDIS_MIN_REPLICAS_TIMEOUT", def: "500ms", help: "how long to wait for those replicas (10ms..2s); past it the page asks the person to start again",
		set: func(c *Config, v string) error {
			return durationIn(&c.RedisMinReplicasTimeout, v, 10*time.Millisecond, 2*time.Second)
		}},
	{name: "OAUTH_CALLBACK_REDIS_KEY_PREFIX", def: "oauth-callback:", help: "prefix of every Redis key",
		set: func(c *Config, v string) error {
			if v == "" || strings.ContainsAny(v, "{} \t\r\n") {
				return fmt.Errorf("must be non-empty, without braces or whitespace")
			}
			c.RedisKeyPrefix = v
			return nil
		}},
	{name: "OAUTH_CALLBACK_TTL", def: "10m", help: "how long a callback can be taken (whole seconds, 1s..24h)",
		set: func(c *Config, v string) error {
			if err := durationIn(&c.TTL, v, time.Second, 24*time.Hour); err != nil {
				return err
			}
			if c.TTL%time.Second != 0 {
				return fmt.Errorf("must be whole seconds")
			}
			return nil
		}},
	{name: "OAUTH_CALLBACK_MAX_ENTRIES", def: "100000", help: "memory store: most callbacks and tombstones held; when full, new callbacks get 503",
		set: func(c *Config, v string) error { return intIn(&c.MaxEntries, v, 1, 100_000_000) }},
	{name: "OAUTH_CALLBACK_MAX_MEMORY", def: "64MiB", help: "bytes of callbacks kept at once (KiB, MiB, GiB suffixes), on either store; past it new callbacks get 503, and 20% is kept for registered states; with Redis, keep it below Redis's maxmemory",
		set: func(c *Config, v string) error { return bytesIn(&c.MaxMemory, v, 1<<20, 64<<30) }},
	{name: "OAUTH_CALLBACK_MAX_CALLBACK_BYTES", def: "16KiB", help: "most one callback may carry (code, error, description and every other parameter), counted as stored (a quote or line break is two bytes); above it the page says 413 and nothing is stored (1KiB..256KiB)",
		set: func(c *Config, v string) error {
			var n int64
			err := bytesIn(&n, v, 1<<10, 256<<10)
			c.MaxCallbackBytes = int(n)
			return err
		}},
	{name: "OAUTH_CALLBACK_STORE_TIMEOUT", def: "1s", help: "bound on every store operation; past it the request gets 503 (10ms..5s)",
		set: func(c *Config, v string) error {
			return durationIn(&c.StoreTimeout, v, 10*time.Millisecond, 5*time.Second)
		}},
	{name: "OAUTH_CALLBACK_CORS_ORIGINS", def: "*", help: "comma-separated origins allowed to call the API and /health; * allows any",
		set: setCORSOrigins},
	{name: "OAUTH_CALLBACK_MAX_WAIT", def: "60s", help: "longest long-poll (?wait=, Prefer: wait=) a client may ask for; longer asks are capped (0..5m, 0 turns long-poll off)",
		set: func(c *Config, v string) error { return durationIn(&c.MaxWait, v, 0, 5*time.Minute) }},
	{name: "OAUTH_CALLBACK_MAX_WAITERS", def: "10000", help: "long-polls held at once per replica; past it, requests are answered at once like a plain poll",
		set: func(c *Config, v string) error { return intIn(&c.MaxWaiters, v, 0, 1_000_000) }},
	{name: "OAUTH_CALLBACK_LONG_POLL_RECHECK", def: "5s", help: "how often a waiting long-poll looks again, in case a wake-up was lost (Redis pub/sub delivers at most once); a Redis round trip per waiter each time (1s..10m)",
		set: func(c *Config, v string) error { return durationIn(&c.Recheck, v, time.Second, 10*time.Minute) }},
	{name: "OAUTH_CALLBACK_MEMORY_LIMIT", def: "0", help: "the container's memory limit (bytes, or with KiB/MiB/GiB; the chart sets it from the pod's limit): the Go runtime gets 90% of it as its soft limit (unless GOMEMLIMIT is set), and new long-polls are answered at once past 90% of that; 0: unknown",
		set: func(c *Config, v string) error {
			if v == "0" {
				c.MemoryLimit = 0
				return nil
			}
			return bytesIn(&c.MemoryLimit, v, 16<<20, 1<<40)
		}},
	{name: "OAUTH_CALLBACK_METRICS_ADDR", def: "", help: "host:port of a separate listener for /metrics; empty: /metrics on the main listener",
		set: func(c *Config, v string) error {
			if v != "" {
				if _, _, err := net.SplitHostPort(v); err != nil {
					return fmt.Errorf("must be host:port, like :9090")
				}
			}
			c.MetricsAddr = v
			return nil
		}},
	{name: "OAUTH_CALLBACK_API_TOKENS", def: "", secret: true, blankRefused: true,
		help: "comma-separated bearer tokens; when set, every /api route requires Authorization: Bearer <one of them> (16+ characters each)",
		set:  setTokens},
	{name: "OAUTH_CALLBACK_REQUIRE_REGISTRATION", def: "false", help: "true: callbacks are stored only for states registered with PUT /api/callback/{state}",
		set: func(c *Config, v string) error { return boolValue(&c.RequireRegistration, v) }},
	{name: "OAUTH_CALLBACK_RATE_LIMIT_CALLBACK", def: "60", help: "requests per minute per client IP on /callback, per replica; 0 turns it off",
		set: func(c *Config, v string) error { return intIn(&c.RateLimitCallback, v, 0, 1_000_000) }},
	{name: "OAUTH_CALLBACK_RATE_LIMIT_API", def: "1200", help: "requests per minute per token (or client IP) on /api, per replica; 0 turns it off",
		set: func(c *Config, v string) error { return intIn(&c.RateLimitAPI, v, 0, 1_000_000) }},
	{name: "OAUTH_CALLBACK_RATE_LIMIT_REGISTER", def: "300", help: "registrations (PUT /api/callback/{state}) per minute per token (or client IP), per replica, beside the API's limit; 0 turns it off",
		set: func(c *Config, v string) error { return intIn(&c.RateLimitRegister, v, 0, 1_000_000) }},
	{name: "OAUTH_CALLBACK_TRUSTED_PROXIES", def: "", help: "comma-separated CIDRs (or IPs) of proxies whose X-Forwarded-For gives the client IP",
		set: setTrustedProxies},
	{name: "OAUTH_CALLBACK_ENCRYPTION_KEY", def: "", secret: true, blankRefused: true,
		help: "server secret (32+ characters) mixed into the encryption of stored callbacks, the names of Redis keys and the state hashes in logs; a comma-separated list rotates keys: the first seals new entries, every one is tried when reading",
		set:  setEncryptionKeys},
	{name: "OAUTH_CALLBACK_PUBLIC_URL", def: "", help: "the service's public base URL, like https://auth.example.com (https, or http on a loopback host); sign-in links start there and the registered redirect_uri must be its /callback",
		set: setPublicURL},
	{name: "OAUTH_CALLBACK_AUTHORIZE_HOSTS", def: "", help: "comma-separated hosts (like login.microsoftonline.com) that a registration's authorization_url may point to; set, it turns sign-in links on (needs OAUTH_CALLBACK_PUBLIC_URL and OAUTH_CALLBACK_ENCRYPTION_KEY); empty, authorization_url is refused",
		set: func(c *Config, v string) error { return setHosts(&c.AuthorizeHosts, v) }},
	{name: "OAUTH_CALLBACK_RETURN_HOSTS", def: "", help: "comma-separated hosts that a registration's return_url may point to; empty, return_url is refused",
		set: func(c *Config, v string) error { return setHosts(&c.ReturnHosts, v) }},
	{name: "OAUTH_CALLBACK_RETURN_REDIRECT", def: "false", help: "true: after a sign-in link's callback is stored, the browser is sent to its return_url (303) instead of being offered a link",
		set: func(c *Config, v string) error { return boolValue(&c.ReturnRedirect, v) }},
	{name: "OAUTH_CALLBACK_STATE_MIN_LENGTH", def: "1", help: "shortest state accepted (1..512); below 16 a warning at start",
		set: func(c *Config, v string) error { return intIn(&c.StateMinLength, v, 1, 512) }},
	{name: "OAUTH_CALLBACK_TEMPLATES_DIR", def: "", help: "directory with success.html, error.html and expired.html (html/template) for the callback page",
		set: func(c *Config, v string) error { c.TemplatesDir = v; return nil }},
	{name: "OAUTH_CALLBACK_PRODUCT_NAME", def: "", help: "product name shown on the callback page and in its title",
		set: func(c *Config, v string) error {
			if len(v) > 100 {
				return fmt.Errorf("must be at most 100 characters")
			}
			c.ProductName = v
			return nil
		}},
	{name: "OAUTH_CALLBACK_PAGE_CLOSE_AFTER", def: "0", help: "success pages close their window after this long (works for popups); 0 never (0..1m)",
		set: func(c *Config, v string) error { return durationIn(&c.PageCloseAfter, v, 0, time.Minute) }},
	{name: "OAUTH_CALLBACK_LOG_LEVEL", def: "info", help: "debug, info, warn or error",
		set: func(c *Config, v string) error {
			if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
				return fmt.Errorf("must be debug, info, warn or error")
			}
			return nil
		}},
	{name: "OAUTH_CALLBACK_LOG_FORMAT", def: "json", help: "json or text",
		set: func(c *Config, v string) error {
			if v != "json" && v != "text" {
				return fmt.Errorf("must be json or text")
			}
			c.LogFormat = v
			return nil
		}},
	{name: "OAUTH_CALLBACK_DRAIN_DELAY", def: "5s", help: "after SIGTERM: time not ready but still serving, so load balancers stop sending (0..5m)",
		set: func(c *Config, v string) error { return durationIn(&c.DrainDelay, v, 0, 5*time.Minute) }},
	{name: "OAUTH_CALLBACK_SHUTDOWN_TIMEOUT", def: "10s", help: "after the drain delay: time for in-flight requests to finish (1s..5m)",
		set: func(c *Config, v string) error {
			return durationIn(&c.ShutdownTimeout, v, time.Second, 5*time.Minute)
		}},
	{name: "OAUTH_CALLBACK_READ_HEADER_TIMEOUT", def: "5s", help: "time for a client to send the request headers (100ms..1m)",
		set: func(c *Config, v string) error {
			return durationIn(&c.ReadHeaderTimeout, v, 100*time.Millisecond, time.Minute)
		}},
	{name: "OAUTH_CALLBACK_READ_TIMEOUT", def: "10s", help: "time for a client to send the whole request (100ms..1m)",
		set: func(c *Config, v string) error {
			return durationIn(&c.ReadTimeout, v, 100*time.Millisecond, time.Minute)
		}},
	{name: "OAUTH_CALLBACK_WRITE_TIMEOUT", def: "15s", help: "time to write a response (1s..5m)",
		set: func(c *Config, v string) error { return durationIn(&c.WriteTimeout, v, time.Second, 5*time.Minute) }},
	{name: "OAUTH_CALLBACK_IDLE_TIMEOUT", def: "60s", help: "keep-alive connection idle time before it is closed (1s..10m)",
		set: func(c *Config, v string) error { return durationIn(&c.IdleTimeout, v, time.Second, 10*time.Minute) }},
}

// Load reads every variable through getenv (os.Getenv in production), using
// the default for unset or empty ones. It reports every invalid variable at
// once, each as an *Error on a line of its own (errors.Join), so that an
// operator fixes them in one go.
func Load(getenv func(string) string) (Config, error) {
	var (
		c    Config
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
			raw = v.def
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
		errs = append(errs, c.loadFiles()...)
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	c.GOMEMLIMIT = getenv("GOMEMLIMIT") != ""
	return c, nil
}

// loadFiles reads what the settings name: the Redis TLS files and the page
// templates, so that a file that is missing or wrong stops start-up here,
// with the variable that names it, like any other bad value.
func (c *Config) loadFiles() []error {
	var errs []error
	fail := func(name, value, reason string) { errs = append(errs, &Error{Var: name, Value: value, Reason: reason}) }
	var err error
	if c.Pages, err = page.New(page.Options{TemplatesDir: c.TemplatesDir, ProductName: c.ProductName, CloseAfter: c.PageCloseAfter}); err != nil {
		fail("OAUTH_CALLBACK_TEMPLATES_DIR", c.TemplatesDir, err.Error())
	}
	if !c.RedisTLS && c.RedisTLSCAFile == "" && c.RedisTLSCertFile == "" {
		return errs
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.RedisTLSCAFile != "" {
		pem, err := os.ReadFile(c.RedisTLSCAFile)
		t.RootCAs = x509.NewCertPool()
		switch {
		case err != nil:
			fail("OAUTH_CALLBACK_REDIS_TLS_CA_FILE", c.RedisTLSCAFile, err.Error())
		case !t.RootCAs.AppendCertsFromPEM(pem):
			fail("OAUTH_CALLBACK_REDIS_TLS_CA_FILE", c.RedisTLSCAFile, "no PEM certificate in the file")
		}
	}
	if c.RedisTLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.RedisTLSCertFile, c.RedisTLSKeyFile)
		if err != nil {
			fail("OAUTH_CALLBACK_REDIS_TLS_CERT_FILE", c.RedisTLSCertFile, err.Error())
		}
		t.Certificates = []tls.Certificate{cert}
	}
	c.RedisTLSConfig = t
	return errs
}

// PrintUsage writes the table of variables -h shows.
func PrintUsage(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tMEANING")
	for _, v := range variables {
		def := v.def
		if def == "" {
			def = "(unset)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.name, def, v.help)
	}
	_ = tw.Flush() // w is stdout; nothing useful to do if it fails
	fmt.Fprintln(w, "\nDurations are Go durations (10m, 1.5s, 250ms); a bare number means seconds.")
}

func intIn(dst *int, v string, lo, hi int) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("not a whole number")
	}
	if n < lo || n > hi {
		return fmt.Errorf("must be between %d and %d", lo, hi)
	}
	*dst = n
	return nil
}

// ParseDuration reads a Go duration, or a bare number as seconds.
func ParseDuration(v string) (time.Duration, error) {
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 || secs > float64(1<<62)/float64(time.Second) {
			return 0, fmt.Errorf("out of range")
		}
		return time.Duration(secs * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("not a duration (use e.g. 10m, 30s, 250ms, or a number of seconds)")
	}
	return d, nil
}

// ParseBytes reads a size in bytes: a whole number, optionally with a
// KiB, MiB or GiB suffix (KB, MB, GB and K, M, G mean the same here).
func ParseBytes(v string) (int64, error) {
	units := []struct {
		suffixes []string
		factor   int64
	}{
		{[]string{"GiB", "GB", "G"}, 1 << 30},
		{[]string{"MiB", "MB", "M"}, 1 << 20},
		{[]string{"KiB", "KB", "K"}, 1 << 10},
		{[]string{"B", ""}, 1},
	}
	for _, u := range units {
		for _, suffix := range u.suffixes {
			number, ok := strings.CutSuffix(v, suffix)
			if !ok {
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSpace(number), 10, 64)
			if err != nil || n < 0 || n > (1<<62)/u.factor {
				return 0, fmt.Errorf("not a size (use e.g. 64MiB, 512KiB, or a number of bytes)")
			}
			return n * u.factor, nil
		}
	}
	return 0, fmt.Errorf("not a size (use e.g. 64MiB, 512KiB, or a number of bytes)")
}

func bytesIn(dst *int64, v string, lo, hi int64) error {
	n, err := ParseBytes(v)
	if err != nil {
		return err
	}
	if n < lo || n > hi {
		return fmt.Errorf("must be between %s and %s", formatBytes(lo), formatBytes(hi))
	}
	*dst = n
	return nil
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<40 && n%(1<<40) == 0:
		return fmt.Sprintf("%dTiB", n>>40)
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func durationIn(dst *time.Duration, v string, lo, hi time.Duration) error {
	d, err := ParseDuration(v)
	if err != nil {
		return err
	}
	if d < lo || d > hi {
		return fmt.Errorf("must be between %v and %v", lo, hi)
	}
	*dst = d
	return nil
}

func setRedisURL(c *Config, v string) error {
	if v == "" {
		return nil
	}
	if _, err := redis.ParseURL(v); err != nil {
		// go-redis's message may quote the URL, password included: say
		// only what kind of mistake it is.
		u, uerr := url.Parse(v)
		if uerr != nil {
			return fmt.Errorf("not a valid URL")
		}
		switch u.Scheme {
		case "redis", "rediss", "unix":
			return fmt.Errorf("not a valid Redis URL (want redis://[user:password@]host:port[/db])")
		default:
			return fmt.Errorf("scheme must be redis, rediss or unix")
		}
	}
	c.RedisURL = v
	return nil
}

func addrList(dst *[]string, v string) error {
	*dst = nil
	for _, a := range strings.Split(v, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return fmt.Errorf("%q is not host:port", a)
		}
		*dst = append(*dst, a)
	}
	return nil
}

func readableFile(dst *string, v string) error {
	if v != "" {
		if _, err := os.Stat(v); err != nil {
			return fmt.Errorf("cannot read the file: %v", err)
		}
	}
	*dst = v
	return nil
}

// checkSignInLinks: sign-in links need the public URL (the start URL and
// the redirect_uri check) and a server secret (the browser binding); each
// missing one is an error of its own.
func checkSignInLinks(c *Config) []error {
	if len(c.AuthorizeHosts) == 0 {
		return nil
	}
	var errs []error
	if c.PublicURL == "" {
		errs = append(errs, &Error{Var: "OAUTH_CALLBACK_PUBLIC_URL", Reason: "must be set when OAUTH_CALLBACK_AUTHORIZE_HOSTS is: sign-in links start there"})
	}
	if len(c.EncryptionKeys) == 0 {
		errs = append(errs, &Error{Var: "OAUTH_CALLBACK_ENCRYPTION_KEY", Reason: "must be set when OAUTH_CALLBACK_AUTHORIZE_HOSTS is: it keys the browser binding of sign-in links", secret: true})
	}
	return errs
}

func setPublicURL(c *Config, v string) error {
	c.PublicURL = ""
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		!(u.Scheme == "https" || u.Scheme == "http" && IsLoopback(u.Hostname())) {
		return fmt.Errorf("must be https://host[:port][/path] (http only on a loopback host), like https://auth.example.com")
	}
	c.PublicURL = strings.TrimSuffix(v, "/")
	return nil
}

// IsLoopback reports whether host (a name or an IP, without port) is
// this machine: localhost or a loopback address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && addr.IsLoopback()
}

func setHosts(dst *[]string, v string) error {
	*dst = nil
	for _, h := range strings.Split(v, ",") {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		if strings.ContainsAny(h, "/:@*? ") {
			return fmt.Errorf("each must be a host name without scheme, port or path, like login.microsoftonline.com")
		}
		*dst = append(*dst, h)
	}
	return nil
}

// checkRedisTopology refuses combinations that cannot work.
func checkRedisTopology(c *Config) *Error {
	n := 0
	for _, set := range []bool{c.RedisURL != "", len(c.RedisSentinelAddrs) > 0, len(c.RedisClusterAddrs) > 0} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return &Error{Var: "OAUTH_CALLBACK_REDIS_URL", Reason: "set one of REDIS_URL, REDIS_SENTINEL_ADDRS or REDIS_CLUSTER_ADDRS, not several", secret: true}
	case len(c.RedisSentinelAddrs) > 0 && c.RedisSentinelMaster == "":
		return &Error{Var: "OAUTH_CALLBACK_REDIS_SENTINEL_MASTER", Reason: "required with REDIS_SENTINEL_ADDRS", secret: true}
	case len(c.RedisClusterAddrs) > 0 && c.RedisMinReplicas > 0:
		return &Error{Var: "OAUTH_CALLBACK_REDIS_MIN_REPLICAS", Value: strconv.Itoa(c.RedisMinReplicas), Reason: "not supported with Redis Cluster"}
	case (c.RedisTLSCertFile == "") != (c.RedisTLSKeyFile == ""):
		return &Error{Var: "OAUTH_CALLBACK_REDIS_TLS_CERT_FILE", Reason: "give the certificate and its key (REDIS_TLS_KEY_FILE) together", secret: true}
	}
	return nil
}

// Store is the store a configuration selects, decided here once: "memory",
// "redis", "redis-sentinel" or "redis-cluster" (Load refuses several).
func (c Config) Store() string {
	switch {
	case len(c.RedisClusterAddrs) > 0:
		return "redis-cluster"
	case len(c.RedisSentinelAddrs) > 0:
		return "redis-sentinel"
	case c.RedisURL != "":
		return "redis"
	}
	return "memory"
}

// UsesRedis reports whether a Redis topology is configured.
func (c Config) UsesRedis() bool { return c.Store() != "memory" }

func boolValue(dst *bool, v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("must be true or false")
	}
	*dst = b
	return nil
}

func setEncryptionKeys(c *Config, v string) error {
	c.EncryptionKeys = nil
	for _, k := range strings.Split(v, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if len(k) < 32 {
			return fmt.Errorf("each key must be at least 32 characters (e.g. openssl rand -base64 32)")
		}
		c.EncryptionKeys = append(c.EncryptionKeys, k)
	}
	if v != "" && len(c.EncryptionKeys) == 0 {
		return fmt.Errorf("set but holds no key")
	}
	return nil
}

func setTokens(c *Config, v string) error {
	c.APITokens = nil
	for _, t := range strings.Split(v, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if len(t) < 16 {
			return fmt.Errorf("every token must be at least 16 characters")
		}
		for _, r := range t {
			if r <= ' ' || r > '~' {
				return fmt.Errorf("tokens must be printable ASCII without spaces")
			}
		}
		c.APITokens = append(c.APITokens, t)
	}
	// "," or " , " would otherwise leave the API open while the operator
	// believes it is closed.
	if v != "" && len(c.APITokens) == 0 {
		return fmt.Errorf("set but holds no token")
	}
	return nil
}

func setTrustedProxies(c *Config, v string) error {
	c.TrustedProxies = nil
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return fmt.Errorf("%q is neither a CIDR (10.0.0.0/8) nor an IP", p)
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, prefix.Masked())
	}
	return nil
}

func setCORSOrigins(c *Config, v string) error {
	c.CORSOrigins = nil
	for _, o := range strings.Split(v, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if o != "*" {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
				(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
				return fmt.Errorf("each origin must be * or scheme://host[:port], like https://app.example.com")
			}
			o = strings.TrimSuffix(o, "/")
		}
		c.CORSOrigins = append(c.CORSOrigins, o)
	}
	if len(c.CORSOrigins) == 0 {
		return fmt.Errorf("list at least one origin, or *")
	}
	return nil
}
