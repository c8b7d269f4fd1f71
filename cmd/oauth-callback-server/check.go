package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/redisstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/config"
	"github.com/oauth-callback-server/oauth-callback-server/internal/httpapi"
	"github.com/oauth-callback-server/oauth-callback-server/internal/units"
)

// finding is one line of `oauth-callback-server check`.
type finding struct {
	Check   string `json:"check"`
	Status  string `json:"status"` // ok, warn or fail
	Message string `json:"message"`
}

const (
	statusOK   = "ok"
	statusWarn = "warn"
	statusFail = "fail"
)

// checkTimeout bounds each check that talks to something.
const checkTimeout = 5 * time.Second

// check is the original service's troubleshooting list as a command: it
// reads the configuration as serve does and says, a line per check, what
// is right and what to do about what is not. It returns an error (exit 1)
// when a check fails; warnings alone pass.
func check(ctx context.Context, environ []string, getenv func(string) string, asJSON bool, stdout io.Writer) error {
	findings := runChecks(ctx, environ, getenv)
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(findings); err != nil {
			return err
		}
	} else {
		for _, f := range findings {
			fmt.Fprintf(stdout, "%-5s %-13s %s\n", f.Status, f.Check, f.Message)
		}
	}
	for _, f := range findings {
		if f.Status == statusFail {
			return errChecksFailed
		}
	}
	return nil
}

var errChecksFailed = errors.New("check: at least one check failed")

func runChecks(ctx context.Context, environ []string, getenv func(string) string) []finding {
	cfg, err := loadConfig(environ, getenv)
	if err != nil {
		var out []finding
		for _, line := range strings.Split(err.Error(), "\n") {
			out = append(out, finding{"config", statusFail, line})
		}
		return out // nothing else can be checked on a configuration that does not load
	}
	out := []finding{{"config", statusOK, "every variable is valid; store: " + cfg.StoreName()}}
	out = append(out, checkListen(ctx, cfg, getenv)...)
	out = append(out, checkManagedCache(cfg)...)
	out = append(out, checkStore(ctx, cfg, getenv)...)
	out = append(out, checkRedirectURI(ctx, cfg))
	out = append(out, checkSignInLinks(cfg))
	out = append(out, checkTrustedProxies(cfg.HTTP.TrustedProxies)...)
	out = append(out, checkProtections(cfg)...)
	out = append(out, checkLongPolls(cfg))
	return out
}

// checkListen: the address serve would bind is free. A port in use is the
// original README's "port already in use"; its holder is named (bindError,
// as at start-up), and when it is this service, run beside its check,
// that is said instead of a failure.
func checkListen(ctx context.Context, cfg config.Config, getenv func(string) string) []finding {
	if getenv("LISTEN_FDS") != "" {
		return []finding{{"listen", statusOK, "a socket is handed over (LISTEN_FDS): OAUTH_CALLBACK_HOST and OAUTH_CALLBACK_PORT are not used"}}
	}
	addrs := []struct{ name, addr string }{{"OAUTH_CALLBACK_HOST/PORT", cfg.Listen.Addr()}}
	if cfg.Listen.MetricsAddr != "" {
		addrs = append(addrs, struct{ name, addr string }{"OAUTH_CALLBACK_METRICS_ADDR", cfg.Listen.MetricsAddr})
	}
	var (
		out     []finding
		running holder // the service found on the main address
	)
	for _, a := range addrs {
		l, err := net.Listen("tcp", a.addr)
		if err == nil {
			_ = l.Close()
			out = append(out, finding{"listen", statusOK, a.addr + " is free"})
			continue
		}
		h := whoHolds(ctx, a.addr, err)
		// The metrics listener answers no HEAD /callback: it is the
		// service's when the process holding the main address holds it.
		if !h.service && running.service && h.process != "" && h.process == running.process {
			h.service = true
		}
		if h.service {
			if !running.service {
				running = h
			}
			out = append(out, finding{"listen", statusOK, fmt.Sprintf("%s (%s) is held by %s, already running: if that is the instance being checked, nothing to do", a.addr, a.name, h)})
			continue
		}
		out = append(out, finding{"listen", statusFail, bindError(a.name, a.addr, h, err).Error()})
	}
	return out
}

// checkStore: the memory store needs nothing; Redis must answer, be recent
// enough, and keep what it is given: room for the byte budget below
// maxmemory (callback.MinMaxmemory, the rule the chart holds its bundled
// Redis to), and noeviction, since every key the store writes has a TTL
// and any other policy may evict a pending sign-in.
func checkStore(ctx context.Context, cfg config.Config, getenv func(string) string) []finding {
	if !cfg.UsesRedis() {
		return []finding{{"store", statusOK, "the memory store: nothing to reach, but one replica only (set OAUTH_CALLBACK_REDIS_URL to share callbacks between replicas)"}}
	}
	// go-redis logs a failed dial on its own (to stderr, before the
	// report); what went wrong is the store finding, and the report is
	// the command's only output.
	redisstore.RouteClientLogs(slog.New(slog.DiscardHandler), time.Hour)
	r := cfg.Redis
	r.Timeout = min(max(r.Timeout, time.Second), checkTimeout)
	if err := signInToRedis(ctx, &r, cfg.RedisAWS, getenv, slog.New(slog.DiscardHandler)); err != nil {
		return []finding{{"store", statusFail, err.Error()}}
	}
	client, err := redisstore.NewClient(r)
	if err != nil {
		return []finding{{"store", statusFail, err.Error()}}
	}
	defer func() { _ = client.Close() }()
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if err := redisstore.CheckVersion(ctx, client); err != nil {
		return []finding{{"store", statusFail, cfg.StoreName() + ": " + err.Error() + ": check the address, the password and that Redis runs"}}
	}
	facts, err := redisstore.Inspect(ctx, client)
	if err != nil {
		return []finding{{"store", statusFail, cfg.StoreName() + ": " + err.Error()}}
	}
	out := []finding{{"store", statusOK, fmt.Sprintf("%s answers: Redis %s, %s with %d replicas, AOF %s", cfg.StoreName(), facts.Version, facts.Role, facts.Replicas, onOff(facts.AOF))}}
	out = append(out, checkRedisIdentity(ctx, r, client)...)
	out = append(out, probeCommands(ctx, cfg, client)...)
	out = append(out, checkMaxmemory(cfg, facts))
	out = append(out, checkEvictionPolicy(cfg, facts)...)
	if cfg.Redis.MinReplicas > facts.Replicas {
		out = append(out, finding{"store", statusFail, fmt.Sprintf("OAUTH_CALLBACK_REDIS_MIN_REPLICAS is %d, but the primary has %d replicas: every callback would wait and fail; lower it or add replicas", cfg.Redis.MinReplicas, facts.Replicas)})
	}
	if facts.ClusterState != "" {
		status := statusOK
		if facts.ClusterState != "ok" {
			status = statusFail
		}
		out = append(out, finding{"store", status, fmt.Sprintf("Redis Cluster: state %s, %d nodes known", facts.ClusterState, facts.ClusterNodes)})
	}
	return out
}

// checkEvictionPolicy fails an evicting maxmemory-policy: an evicted
// callback is a sign-in lost without a word. Where the cache fixes the
// policy and the operator cannot change it (ElastiCache Serverless) a
// failure would fail every helm test for good, so there it is a warning
// that says what protects the callbacks instead.
func checkEvictionPolicy(cfg config.Config, facts redisstore.Facts) []finding {
	switch {
	case facts.Policy == "noeviction":
		return nil
	case facts.Policy == "":
		return []finding{{"store", statusWarn, "Redis does not say its maxmemory-policy (INFO has no maxmemory_policy): make sure it is noeviction, or evicted callbacks are lost sign-ins"}}
	case onElastiCacheServerless(cfg):
		return serverlessEvictionPolicy(cfg, facts)
	}
	return append([]finding{{"store", statusFail, "Redis's maxmemory-policy is " + strconv.Quote(facts.Policy) + ": when full, Redis may evict any of the service's keys (each has a TTL, so volatile-* policies evict them too), and an evicted callback is a sign-in lost without a word; set maxmemory-policy noeviction, so that a full Redis refuses new callbacks (503, try again) instead"}},
		fixedEvictionPolicy(cfg, facts)...)
}

// checkMaxmemory holds Redis's maxmemory to callback.MinMaxmemory of the
// byte budget. On Cluster, INFO is one node's, which holds a share of the
// callbacks only: there it is a warning.
func checkMaxmemory(cfg config.Config, facts redisstore.Facts) finding {
	budget := units.FormatBytes(cfg.Store.MaxBytes)
	least := units.FormatBytes(callback.MinMaxmemory(cfg.Store.MaxBytes))
	switch {
	case facts.MaxBytes == 0:
		return finding{"store", statusWarn, fmt.Sprintf("Redis has no maxmemory: it grows until the machine runs out; set maxmemory to at least %s (%s OAUTH_CALLBACK_MAX_MEMORY, %s) plus what else that Redis holds, with maxmemory-policy noeviction", least, callback.MaxmemoryRule, budget)}
	case facts.MaxBytes >= callback.MinMaxmemory(cfg.Store.MaxBytes):
		return finding{"store", statusOK, fmt.Sprintf("Redis's maxmemory (%s) holds the byte budget: at least %s, %s OAUTH_CALLBACK_MAX_MEMORY (%s)", units.FormatBytes(facts.MaxBytes), least, callback.MaxmemoryRule, budget)}
	}
	status, where := statusFail, "Redis's maxmemory"
	if facts.ClusterState != "" {
		status, where = statusWarn, "this Cluster node's maxmemory (the callbacks spread over the primaries: the sum of theirs counts)"
	}
	fits := callback.MaxBudget(facts.MaxBytes)
	if fits >= 1<<20 {
		fits -= fits % (1 << 20) // a round number to set
	}
	return finding{"store", status, fmt.Sprintf("%s (%s) is below %s, %s OAUTH_CALLBACK_MAX_MEMORY (%s): Redis fills before the budget does (its allocator rounds values up; keys, tombstones and registrations come on top), and new callbacks get 503 from Redis; raise maxmemory to at least %s, or lower OAUTH_CALLBACK_MAX_MEMORY to %s",
		where, units.FormatBytes(facts.MaxBytes), least, callback.MaxmemoryRule, budget, least, units.FormatBytes(fits))}
}

// checkLongPolls says how many long-polls one replica holds, and where the
// number comes from: OAUTH_CALLBACK_MAX_WAITERS, or the memory limit.
func checkLongPolls(cfg config.Config) finding {
	n := cfg.HTTP.LongPoll.MaxWaiters
	switch {
	case cfg.HTTP.LongPoll.MaxWait == 0:
		return finding{"long-poll", statusOK, "off (OAUTH_CALLBACK_MAX_WAIT=0): every poll is answered at once"}
	case cfg.MaxWaitersDerived():
		return finding{"long-poll", statusOK, fmt.Sprintf("%d held at once per replica, what fits in OAUTH_CALLBACK_MEMORY_LIMIT (%s)", n, units.FormatBytes(cfg.MemoryLimit))}
	}
	return finding{"long-poll", statusOK, fmt.Sprintf("%d held at once per replica (OAUTH_CALLBACK_MAX_WAITERS)", n)}
}

// checkRedirectURI: the redirect URI to register, exactly, and whether the
// public URL reaches this service (HEAD /callback answers with
// httpapi.ProbeHeader); the original README's "check the redirect URI
// matches exactly" and "verify the server is accessible from the browser".
// A redirect is reported, never followed: the identity provider sends the
// code to exactly the registered URI, so what answers there is what counts.
func checkRedirectURI(ctx context.Context, cfg config.Config) finding {
	public := cfg.HTTP.SignInLinks.PublicURL
	if public == "" {
		return finding{"redirect-uri", statusWarn, "OAUTH_CALLBACK_PUBLIC_URL is unset, so the redirect URI to register cannot be told: it is https://<the public host>/callback, exactly (Entra ID: Authentication → Web → Redirect URIs); set the variable to have it checked"}
	}
	uri := public + "/callback"
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, uri, nil)
	if err != nil {
		return finding{"redirect-uri", statusFail, err.Error()}
	}
	probe := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := probe.Do(req)
	if err != nil {
		return finding{"redirect-uri", statusWarn, "register exactly " + uri + " as the redirect URI; it is not reachable from here (" + err.Error() + "), which is fine if browsers reach it another way"}
	}
	_ = resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return redirectFinding(uri, resp)
	}
	if resp.Header.Get(httpapi.ProbeHeader) == "" {
		return finding{"redirect-uri", statusFail, fmt.Sprintf("register exactly %s as the redirect URI; but it answers %s without being this service: an ingress, proxy or another application is in the way", uri, resp.Status)}
	}
	return finding{"redirect-uri", statusOK, "register exactly " + uri + " as the redirect URI: it reaches this service"}
}

// redirectFinding fails a redirect answered at the redirect URI: a
// form_post callback is a POST whose body a 301, 302 or 303 drops, and
// wherever it points receives the code instead of this service.
func redirectFinding(uri string, resp *http.Response) finding {
	where := "with no Location"
	if to, err := resp.Location(); err == nil {
		where = "to " + to.String()
		var how []string
		if to.Host != resp.Request.URL.Host {
			how = append(how, "another host")
		}
		if to.Scheme == "http" && resp.Request.URL.Scheme == "https" {
			how = append(how, "plain http, readable on the way")
		}
		if len(how) > 0 {
			where += " (" + strings.Join(how, ", ") + ")"
		}
	}
	return finding{"redirect-uri", statusFail, fmt.Sprintf("register exactly %s as the redirect URI; but it answers %s, a redirect %s, not followed: the identity provider sends the code to exactly the registered URI, where a redirect drops a form_post callback and hands the code to whatever it points at; make %s answer from this service itself (no redirect in the ingress or proxy), or set OAUTH_CALLBACK_PUBLIC_URL to where it is served and register that", uri, resp.Status, where, uri)}
}

func checkSignInLinks(cfg config.Config) finding {
	links := cfg.HTTP.SignInLinks
	if len(links.AuthorizeHosts) == 0 {
		return finding{"sign-in-links", statusOK, "off (OAUTH_CALLBACK_AUTHORIZE_HOSTS unset): registrations with an authorization_url are refused"}
	}
	returns := "no return_url accepted"
	if len(links.ReturnHosts) > 0 {
		returns = "return_url to " + strings.Join(links.ReturnHosts, ", ")
	}
	return finding{"sign-in-links", statusOK, fmt.Sprintf("on: authorization URLs to %s, %s, binding keyed by OAUTH_CALLBACK_ENCRYPTION_KEY", strings.Join(links.AuthorizeHosts, ", "), returns)}
}

// Trusted proxy ranges wider than these are warned about. Each is about one
// site: an IPv4 /16 (65 536 addresses) holds a cluster's pod range, and an
// IPv6 /48 is one site's whole assignment (RFC 6177), 256 of the /56
// networks the rate limits count an IPv6 client by. A wider range is more
// than any one ingress controller, like the private 10.0.0.0/8 or fd00::/8.
const (
	widestTrustedIPv4 = 16
	widestTrustedIPv6 = 48
)

// checkTrustedProxies: a trusted proxy's X-Forwarded-For is believed, so
// every peer inside a trusted range names its own client address and
// picks its own rate-limit bucket. Only the proxy's own addresses belong
// there.
func checkTrustedProxies(trusted []netip.Prefix) []finding {
	if len(trusted) == 0 {
		return []finding{{"proxies", statusOK, "none trusted (OAUTH_CALLBACK_TRUSTED_PROXIES unset): X-Forwarded-For is ignored; behind an ingress or proxy, set it to the proxy's own addresses, or every client counts against the proxy's one rate limit"}}
	}
	var out []finding
	for _, p := range trusted {
		widest := widestTrustedIPv4
		if p.Addr().Is6() {
			widest = widestTrustedIPv6
		}
		switch {
		case p.Addr().Is4In6():
			// Peers are compared unmapped, as IPv4, which an IPv6 prefix never contains.
			v4 := netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0)).Masked()
			out = append(out, finding{"proxies", statusWarn, fmt.Sprintf("OAUTH_CALLBACK_TRUSTED_PROXIES has %s, an IPv4 range written as IPv6: it matches no peer, which are compared as IPv4; write it %s", p, v4)})
		case p.Bits() < widest:
			out = append(out, finding{"proxies", statusWarn, fmt.Sprintf("OAUTH_CALLBACK_TRUSTED_PROXIES trusts %s, wider than a /%d: every pod, VPN or NAT'd client in it that reaches the service names its own client address in X-Forwarded-For and picks its own rate-limit bucket; trust only the ingress controller's own addresses (its pods' IPs, the pod CIDRs of nodes it has to itself, or its own IP pool) and let nothing else in (the chart's networkPolicy.enabled)", p, widest)})
		}
	}
	if len(out) == 0 {
		out = append(out, finding{"proxies", statusOK, "X-Forwarded-For is believed from " + showPrefixes(trusted) + " only: keep every other peer in these ranges from connecting (the chart's networkPolicy.enabled)"})
	}
	return out
}

func showPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// checkProtections says which protections are off, as start-up does.
func checkProtections(cfg config.Config) []finding {
	var out []finding
	if len(cfg.HTTP.Apps) == 0 {
		out = append(out, finding{"api-token", statusWarn, "the API is open: anyone who reaches /api and knows a state takes its code; set OAUTH_CALLBACK_API_TOKENS"})
	} else {
		var described []string
		tokens := 0
		for _, a := range cfg.HTTP.Apps {
			tokens += len(a.Digests)
			d := a.Name
			if total, _, ok := cfg.Store.AppBudget(a.Name); ok {
				// What the app is promised, whatever the others hold: its
				// share of what only registered sign-ins may use.
				d += fmt.Sprintf(" (guaranteed %.1f MiB: %.0f%% of the %.0f%% only registered sign-ins may use)", float64(total)/(1<<20),
					100*cfg.Store.AppShares[a.Name], 100*cfg.Store.RegisteredPool())
			}
			described = append(described, d)
		}
		out = append(out, finding{"api-token", statusOK, fmt.Sprintf("%d API tokens required on /api, for the apps %s", tokens, strings.Join(described, ", "))})
	}
	if cfg.UsesRedis() && len(cfg.EncryptionKeys) == 0 {
		out = append(out, finding{"encryption", statusWarn, "Redis without OAUTH_CALLBACK_ENCRYPTION_KEY: key names are an unkeyed hash of the state; set it"})
	}
	return out
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
