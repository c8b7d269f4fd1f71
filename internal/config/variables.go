package config

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/memlimit"
	"github.com/oauth-callback-server/oauth-callback-server/internal/units"
)

// variable is one setting: its name, help line, the field it fills and how
// that field's default is shown. The default itself is the owning
// component's (Default).
type variable struct {
	name   string
	help   string
	secret bool
	// blankRefused: set to nothing but blanks (a space, a newline from a
	// mounted Secret) is an error, not the default. For settings whose
	// default turns a protection off.
	blankRefused bool
	set          func(c *Config, v string) error
	show         func(c *Config) string // the value as -h shows it
}

// variables lists every setting, in the order -h and docs/configuration.md
// show them. A new setting is one entry here, a field with its default in
// its component's Config, and its use.
var variables = []variable{
	stringVar("OAUTH_CALLBACK_HOST", "address to listen on",
		func(c *Config) *string { return &c.Listen.Host }, nil),
	intVar("OAUTH_CALLBACK_PORT", "port to listen on (0 picks a free port)",
		func(c *Config) *int { return &c.Listen.Port }, 0, 65535),
	secretVar(stringVar("OAUTH_CALLBACK_REDIS_URL", "redis://[user:password@]host:port[/db], rediss://… (TLS) or unix:///path; empty: in-memory store, one replica only",
		func(c *Config) *string { return &c.Redis.URL }, checkRedisURL)),
	secretVar(stringVar("OAUTH_CALLBACK_REDIS_PASSWORD", "Redis password; overrides the one in the URL, so it can come from a Secret",
		func(c *Config) *string { return &c.Redis.Password }, nil)),
	stringVar("OAUTH_CALLBACK_REDIS_PASSWORD_FILE", "file holding the Redis password (a mounted Secret), read again for every new connection, so a rotated password is used from the next one on; instead of REDIS_PASSWORD",
		func(c *Config) *string { return &c.Redis.PasswordFile }, readableFile),
	stringVar("OAUTH_CALLBACK_REDIS_AUTH", "how to sign in to Redis: password (REDIS_PASSWORD, REDIS_PASSWORD_FILE, the URL's, or none), or a cloud identity's tokens, renewed on pooled connections as they are reused: entra (Azure Managed Redis; the standard AZURE_* variables: workload identity, service principal or managed identity; the user is the identity's object id unless REDIS_USERNAME says otherwise), aws (ElastiCache or MemoryDB IAM; the standard AWS_* variables: IRSA or EKS Pod Identity; needs TLS, REDIS_USERNAME and REDIS_AWS_CACHE_NAME) or gcp (Memorystore IAM; needs TLS; GKE workload identity through the metadata server, or GOOGLE_APPLICATION_CREDENTIALS)",
		func(c *Config) *string { return &c.Redis.Auth }, checkRedisAuth),
	stringVar("OAUTH_CALLBACK_REDIS_AWS_SERVICE", "with REDIS_AUTH=aws, what the token is signed for: elasticache (a replication group), elasticache-serverless or memorydb",
		func(c *Config) *string { return &c.RedisAWS.Service }, checkAWSService),
	stringVar("OAUTH_CALLBACK_REDIS_AWS_CACHE_NAME", "with REDIS_AUTH=aws, the replication group id, serverless cache name or MemoryDB cluster name, in lower case",
		func(c *Config) *string { return &c.RedisAWS.CacheName }, nil),
	listVar("OAUTH_CALLBACK_REDIS_SENTINEL_ADDRS", "comma-separated host:port of Redis Sentinels (instead of REDIS_URL); needs REDIS_SENTINEL_MASTER", "address",
		func(c *Config) *[]string { return &c.Redis.SentinelAddrs }, checkAddr),
	stringVar("OAUTH_CALLBACK_REDIS_SENTINEL_MASTER", "name of the Sentinel-monitored primary, e.g. mymaster",
		func(c *Config) *string { return &c.Redis.SentinelMaster }, nil),
	secretVar(stringVar("OAUTH_CALLBACK_REDIS_SENTINEL_PASSWORD", "password of the Sentinels themselves",
		func(c *Config) *string { return &c.Redis.SentinelPassword }, nil)),
	listVar("OAUTH_CALLBACK_REDIS_CLUSTER_ADDRS", "comma-separated host:port of Redis Cluster seed nodes (instead of REDIS_URL)", "address",
		func(c *Config) *[]string { return &c.Redis.ClusterAddrs }, checkAddr),
	stringVar("OAUTH_CALLBACK_REDIS_USERNAME", "Redis ACL user; overrides the URL's",
		func(c *Config) *string { return &c.Redis.Username }, nil),
	boolVar("OAUTH_CALLBACK_REDIS_TLS", "true: TLS to Sentinel or Cluster nodes (a rediss:// URL implies it)",
		func(c *Config) *bool { return &c.redisTLS.on }),
	stringVar("OAUTH_CALLBACK_REDIS_TLS_CA_FILE", "PEM file of the CA that signed the Redis server certificates",
		func(c *Config) *string { return &c.redisTLS.caFile }, readableFile),
	stringVar("OAUTH_CALLBACK_REDIS_TLS_CERT_FILE", "PEM client certificate for Redis (with REDIS_TLS_KEY_FILE)",
		func(c *Config) *string { return &c.redisTLS.certFile }, readableFile),
	stringVar("OAUTH_CALLBACK_REDIS_TLS_KEY_FILE", "PEM private key of the Redis client certificate",
		func(c *Config) *string { return &c.redisTLS.keyFile }, readableFile),
	intVar("OAUTH_CALLBACK_REDIS_MIN_REPLICAS", "wait (WAIT) for this many Redis replicas to acknowledge each callback before telling the person it worked, each take before handing out its code, and each cancel before confirming it; 0 off; not with Cluster",
		func(c *Config) *int { return &c.Redis.MinReplicas }, 0, 16),
	durationVar("OAUTH_CALLBACK_REDIS_MIN_REPLICAS_TIMEOUT", "how long to wait for those replicas (10ms..2s); past it the page asks the person to start again",
		func(c *Config) *time.Duration { return &c.Redis.MinReplicasTimeout }, 10*time.Millisecond, 2*time.Second),
	boolVar("OAUTH_CALLBACK_REDIS_AUTO_PIPELINE", "true: the store's script calls from concurrent requests go to Redis as one pipeline (go-redis's auto-pipelining, experimental there): less CPU per operation for the service and Redis; but while Redis hangs a call waits past STORE_TIMEOUT, bounded only by the socket timeouts; not with Cluster",
		func(c *Config) *bool { return &c.Redis.AutoPipeline }),
	stringVar("OAUTH_CALLBACK_REDIS_KEY_PREFIX", "prefix of every Redis key",
		func(c *Config) *string { return &c.Redis.KeyPrefix }, func(v string) (string, error) {
			if strings.ContainsAny(v, "{} \t\r\n") {
				return "", fmt.Errorf("must be non-empty, without braces or whitespace")
			}
			return v, nil
		}),
	durationVar("OAUTH_CALLBACK_TTL", "how long a callback can be taken (whole seconds, 1s..24h)",
		func(c *Config) *time.Duration { return &c.Store.TTL }, time.Second, 24*time.Hour, wholeSeconds),
	intVar("OAUTH_CALLBACK_MAX_ENTRIES", "memory store: most registrations, callbacks and tombstones held; each counts at least MAX_MEMORY/MAX_ENTRIES bytes of the budget, so its shares bound entries too",
		func(c *Config) *int { return &c.Memory.MaxEntries }, 1, 100_000_000),
	bytesVar("OAUTH_CALLBACK_MAX_MEMORY", "bytes of callbacks kept at once (KiB, MiB, GiB suffixes), on either store; past it new callbacks get 503, and 20% is kept for registered states; with Redis, keep it below Redis's maxmemory",
		func(c *Config) *int64 { return &c.Store.MaxBytes }, 1<<20, 64<<30),
	bytesVar("OAUTH_CALLBACK_MAX_CALLBACK_BYTES", "most one callback may carry (code, error, description and every other parameter), counted as stored (a quote or line break is two bytes); above it the page says 413 and nothing is stored (1KiB..256KiB)",
		func(c *Config) *int { return &c.HTTP.MaxCallbackBytes }, 1<<10, 256<<10),
	durationVar("OAUTH_CALLBACK_STORE_TIMEOUT", "bound on every store operation; past it the request gets 503 (10ms..5s)",
		func(c *Config) *time.Duration { return &c.Redis.Timeout }, 10*time.Millisecond, 5*time.Second),
	listVar("OAUTH_CALLBACK_CORS_ORIGINS", "comma-separated origins allowed to call the API and /health; * allows any", "origin",
		func(c *Config) *[]string { return &c.HTTP.CORSOrigins }, checkOrigin),
	refuseBlank(secretVar(listVar("OAUTH_CALLBACK_API_TOKENS", "comma-separated bearer tokens, each [app=]token or [app=]sha256:<hex of the token's SHA-256>; when set, every /api route requires Authorization: Bearer <one of them> (16+ characters each); the app (lowercase, default \"default\") owns the states its tokens register, and names the MCP server in logs and metrics", "token",
		func(c *Config) *[]string { return &c.apiTokens }, checkToken))),
	stringVar("OAUTH_CALLBACK_APPS_FILE", "YAML or JSON file of apps (a mounted Secret): per app its tokens (or their sha256: digests) and optional memory_share, rate_limit_api and rate_limit_register (docs/configuration.md, \"Apps\"); the tokens of API_TOKENS join the app they name",
		func(c *Config) *string { return &c.appsFile }, nil),
	boolVar("OAUTH_CALLBACK_REQUIRE_REGISTRATION", "true: callbacks are stored only for states registered with PUT /api/callback/{state}",
		func(c *Config) *bool { return &c.Store.RequireRegistration }),
	intVar("OAUTH_CALLBACK_RATE_LIMIT_CALLBACK", "requests per minute per client IP on /callback, for all replicas together on Redis (see RATE_LIMIT_SHARED); 0 turns it off",
		func(c *Config) *int { return &c.HTTP.RateLimits.Callback }, 0, 1_000_000),
	intVar("OAUTH_CALLBACK_RATE_LIMIT_API", "requests per minute per token (or client IP) on /api, for all replicas together on Redis; 0 turns it off",
		func(c *Config) *int { return &c.HTTP.RateLimits.API }, 0, 1_000_000),
	intVar("OAUTH_CALLBACK_RATE_LIMIT_REGISTER", "registrations (PUT /api/callback/{state}) per minute per token (or client IP), for all replicas together on Redis, beside the API's limit; 0 turns it off",
		func(c *Config) *int { return &c.HTTP.RateLimits.Register }, 0, 1_000_000),
	boolVar("OAUTH_CALLBACK_RATE_LIMIT_SHARED", "true: on Redis, the rate limits are counted in Redis (GCRA: a burst of the limit, then the limit a minute), so N replicas together admit the limit; when Redis cannot be asked, each replica counts alone for a few seconds. false, or the memory store: each replica counts alone",
		func(c *Config) *bool { return &c.HTTP.RateLimits.Shared }),
	{name: "OAUTH_CALLBACK_TRUSTED_PROXIES", help: "comma-separated CIDRs (or IPs) of proxies whose X-Forwarded-For gives the client IP",
		set:  func(c *Config, v string) error { return setTrustedProxies(&c.HTTP.TrustedProxies, v) },
		show: func(c *Config) string { return showList(c.HTTP.TrustedProxies) }},
	refuseBlank(secretVar(listVar("OAUTH_CALLBACK_ENCRYPTION_KEY", "server secret (32+ characters) mixed into the encryption of stored callbacks, the names of Redis keys and the state hashes in logs; a comma-separated list rotates keys: the first seals new entries, every one is tried when reading", "key",
		func(c *Config) *[]string { return &c.EncryptionKeys }, checkEncryptionKey))),
	stringVar("OAUTH_CALLBACK_PUBLIC_URL", "the service's public base URL, like https://auth.example.com (https, or http on a loopback host); sign-in links start there and the registered redirect_uri must be its /callback",
		func(c *Config) *string { return &c.HTTP.SignInLinks.PublicURL }, checkPublicURL),
	listVar("OAUTH_CALLBACK_AUTHORIZE_HOSTS", "comma-separated hosts (like login.microsoftonline.com) that a registration's authorization_url may point to; set, it turns sign-in links on (needs OAUTH_CALLBACK_PUBLIC_URL and OAUTH_CALLBACK_ENCRYPTION_KEY); empty, authorization_url is refused", "host",
		func(c *Config) *[]string { return &c.HTTP.SignInLinks.AuthorizeHosts }, checkHost),
	listVar("OAUTH_CALLBACK_RETURN_HOSTS", "comma-separated hosts that a registration's return_url may point to; empty, return_url is refused", "host",
		func(c *Config) *[]string { return &c.HTTP.SignInLinks.ReturnHosts }, checkHost),
	boolVar("OAUTH_CALLBACK_RETURN_REDIRECT", "true: after a sign-in link's callback is stored, the browser is sent to its return_url (303) instead of being offered a link",
		func(c *Config) *bool { return &c.HTTP.SignInLinks.ReturnRedirect }),
	intVar("OAUTH_CALLBACK_STATE_MIN_LENGTH", "shortest state accepted (1..512); below 16 a warning at start",
		func(c *Config) *int { return &c.HTTP.StateMinLength }, 1, 512),
	stringVar("OAUTH_CALLBACK_TEMPLATES_DIR", "directory with success.html, error.html and expired.html (html/template) for the callback page",
		func(c *Config) *string { return &c.Pages.TemplatesDir }, nil),
	stringVar("OAUTH_CALLBACK_PRODUCT_NAME", "product name shown on the callback page and in its title",
		func(c *Config) *string { return &c.Pages.ProductName }, func(v string) (string, error) {
			if len(v) > 100 {
				return "", fmt.Errorf("must be at most 100 characters")
			}
			return v, nil
		}),
	durationVar("OAUTH_CALLBACK_PAGE_CLOSE_AFTER", "success pages close their window after this long (works for popups); 0 never (0..1m)",
		func(c *Config) *time.Duration { return &c.Pages.CloseAfter }, 0, time.Minute),
	durationVar("OAUTH_CALLBACK_MAX_WAIT", "longest long-poll (?wait=, Prefer: wait=) a client may ask for; longer asks are capped (0..5m, 0 turns long-poll off)",
		func(c *Config) *time.Duration { return &c.HTTP.LongPoll.MaxWait }, 0, 5*time.Minute),
	{name: "OAUTH_CALLBACK_MAX_WAITERS", help: fmt.Sprintf("long-polls held at once per replica; past it, requests are answered at once like a plain poll; unset while MEMORY_LIMIT is set, what fits in that limit: (limit × %.0f%% − %s − the memory store's MAX_MEMORY) ÷ %d bytes",
		100*memlimit.RuntimeShare, units.FormatBytes(memlimit.BaseBytes), memlimit.BytesPerWaiter),
		set: func(c *Config, v string) error {
			c.maxWaitersGiven = true
			return intIn(&c.HTTP.LongPoll.MaxWaiters, v, 0, maxWaiters)
		},
		show: func(c *Config) string { return strconv.Itoa(c.HTTP.LongPoll.MaxWaiters) }},
	durationVar("OAUTH_CALLBACK_LONG_POLL_RECHECK", "how often a waiting long-poll looks again, in case a wake-up was lost (Redis pub/sub delivers at most once); a Redis round trip per waiter each time (1s..10m)",
		func(c *Config) *time.Duration { return &c.HTTP.LongPoll.Recheck }, time.Second, 10*time.Minute),
	{name: "OAUTH_CALLBACK_MEMORY_LIMIT", help: "the container's memory limit (bytes, or with KiB/MiB/GiB; the chart sets it from the pod's limit): the Go runtime gets 90% of it as its soft limit (unless GOMEMLIMIT is set), and new long-polls are answered at once past 90% of that; 0: unknown",
		set: func(c *Config, v string) error {
			if v == "0" {
				c.MemoryLimit = 0
				return nil
			}
			return bytesIn(&c.MemoryLimit, v, 16<<20, 1<<40)
		},
		show: func(c *Config) string { return showBytes(c.MemoryLimit) }},
	stringVar("OAUTH_CALLBACK_METRICS_ADDR", "host:port of a separate listener for /metrics; empty: /metrics on the main listener",
		func(c *Config) *string { return &c.Listen.MetricsAddr }, func(v string) (string, error) {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return "", fmt.Errorf("must be host:port, like :9090")
			}
			return v, nil
		}),
	{name: "OAUTH_CALLBACK_LOG_LEVEL", help: "debug, info, warn or error",
		set: func(c *Config, v string) error {
			if err := c.Log.Level.UnmarshalText([]byte(v)); err != nil {
				return fmt.Errorf("must be debug, info, warn or error")
			}
			return nil
		},
		show: func(c *Config) string { return strings.ToLower(c.Log.Level.String()) }},
	stringVar("OAUTH_CALLBACK_LOG_FORMAT", "json or text",
		func(c *Config) *string { return &c.Log.Format }, func(v string) (string, error) {
			if v != "json" && v != "text" {
				return "", fmt.Errorf("must be json or text")
			}
			return v, nil
		}),
	durationVar("OAUTH_CALLBACK_DRAIN_DELAY", "after SIGTERM: time not ready but still serving, so load balancers stop sending (0..5m)",
		func(c *Config) *time.Duration { return &c.Shutdown.DrainDelay }, 0, 5*time.Minute),
	durationVar("OAUTH_CALLBACK_SHUTDOWN_TIMEOUT", "after the drain delay: time for in-flight requests to finish (1s..5m)",
		func(c *Config) *time.Duration { return &c.Shutdown.Timeout }, time.Second, 5*time.Minute),
	durationVar("OAUTH_CALLBACK_READ_HEADER_TIMEOUT", "time for a client to send the request headers (100ms..1m)",
		func(c *Config) *time.Duration { return &c.HTTP.ReadHeaderTimeout }, 100*time.Millisecond, time.Minute),
	durationVar("OAUTH_CALLBACK_READ_TIMEOUT", "time for a client to send the whole request (100ms..1m)",
		func(c *Config) *time.Duration { return &c.HTTP.ReadTimeout }, 100*time.Millisecond, time.Minute),
	durationVar("OAUTH_CALLBACK_WRITE_TIMEOUT", "time to write a response (1s..5m)",
		func(c *Config) *time.Duration { return &c.HTTP.WriteTimeout }, time.Second, 5*time.Minute),
	durationVar("OAUTH_CALLBACK_IDLE_TIMEOUT", "keep-alive connection idle time before it is closed (1s..10m)",
		func(c *Config) *time.Duration { return &c.HTTP.IdleTimeout }, time.Second, 10*time.Minute),
}

// maxWaiters is the most OAUTH_CALLBACK_MAX_WAITERS takes, and derives.
const maxWaiters = 1_000_000

// Usage is one row of -h's table: a variable, its default as shown, and
// what it means.
type Usage struct {
	Name, Default, Help string
}

// Variables lists every variable with its default, in order: -h's table,
// and what docs/configuration.md is checked against.
func Variables() []Usage {
	d := Default()
	out := make([]Usage, len(variables))
	for i, v := range variables {
		out[i] = Usage{Name: v.name, Default: v.show(&d), Help: v.help}
	}
	return out
}

// PrintUsage writes the table of variables -h shows.
func PrintUsage(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tMEANING")
	for _, u := range Variables() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, u.Default, u.Help)
	}
	_ = tw.Flush() // w is stdout; nothing useful to do if it fails
	fmt.Fprintln(w, "\nDurations are Go durations (10m, 1.5s, 250ms); a bare number means seconds.")
}

// The kinds of variable. Each parses into its field, checks what it must,
// and shows the field's default.

// stringVar is a string; check, when set, refuses a bad value or gives
// the value to keep (trimmed, lower-cased).
func stringVar(name, help string, field func(*Config) *string, check func(string) (string, error)) variable {
	return variable{name: name, help: help,
		set: func(c *Config, v string) error {
			if check != nil {
				var err error
				if v, err = check(v); err != nil {
					return err
				}
			}
			*field(c) = v
			return nil
		},
		show: func(c *Config) string { return showString(*field(c)) }}
}

// listVar is a comma-separated list; blank items are dropped, and a value
// that holds no item is refused (a "," would otherwise leave a protection
// off while the operator believes it on). check is stringVar's, per item.
func listVar(name, help, noun string, field func(*Config) *[]string, check func(string) (string, error)) variable {
	return variable{name: name, help: help,
		set: func(c *Config, v string) error {
			var items []string
			for _, item := range strings.Split(v, ",") {
				if item = strings.TrimSpace(item); item == "" {
					continue
				}
				if check != nil {
					var err error
					if item, err = check(item); err != nil {
						return err
					}
				}
				items = append(items, item)
			}
			if len(items) == 0 {
				return fmt.Errorf("set but holds no %s: unset it, or give at least one", noun)
			}
			*field(c) = items
			return nil
		},
		show: func(c *Config) string { return showString(strings.Join(*field(c), ",")) }}
}

func intVar(name, help string, field func(*Config) *int, lo, hi int) variable {
	return variable{name: name, help: help,
		set:  func(c *Config, v string) error { return intIn(field(c), v, lo, hi) },
		show: func(c *Config) string { return strconv.Itoa(*field(c)) }}
}

func boolVar(name, help string, field func(*Config) *bool) variable {
	return variable{name: name, help: help,
		set:  func(c *Config, v string) error { return boolValue(field(c), v) },
		show: func(c *Config) string { return strconv.FormatBool(*field(c)) }}
}

func durationVar(name, help string, field func(*Config) *time.Duration, lo, hi time.Duration, checks ...func(time.Duration) error) variable {
	return variable{name: name, help: help,
		set: func(c *Config, v string) error {
			var d time.Duration
			if err := durationIn(&d, v, lo, hi); err != nil {
				return err
			}
			for _, check := range checks {
				if err := check(d); err != nil {
					return err
				}
			}
			*field(c) = d
			return nil
		},
		show: func(c *Config) string { return showDuration(*field(c)) }}
}

// bytesVar is a size: a number of bytes, or with a KiB, MiB or GiB suffix.
func bytesVar[N int | int64](name, help string, field func(*Config) *N, lo, hi int64) variable {
	return variable{name: name, help: help,
		set: func(c *Config, v string) error {
			var n int64
			if err := bytesIn(&n, v, lo, hi); err != nil {
				return err
			}
			*field(c) = N(n)
			return nil
		},
		show: func(c *Config) string { return showBytes(int64(*field(c))) }}
}

func secretVar(v variable) variable   { v.secret = true; return v }
func refuseBlank(v variable) variable { v.blankRefused = true; return v }

func showString(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

func showList[T fmt.Stringer](items []T) string {
	s := make([]string, len(items))
	for i, item := range items {
		s[i] = item.String()
	}
	return showString(strings.Join(s, ","))
}

// showDuration writes a default as a person would: 10m, 60s, 500ms, 0.
func showDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d >= 2*time.Minute && d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}

func showBytes(n int64) string {
	if n == 0 {
		return "0"
	}
	return units.FormatBytes(n)
}
