package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/redisstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/config"
	"github.com/oauth-callback-server/oauth-callback-server/internal/httpapi"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testnet"
)

// runCheck runs `oauth-callback-server check` with env (on a loopback
// address the kernel picks, unless env says otherwise) and returns its
// output and error.
func runCheck(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	environ := []string{"OAUTH_CALLBACK_HOST=127.0.0.1", "OAUTH_CALLBACK_PORT=0"}
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"oauth-callback-server", "check"}, args...), environ, &out, &bytes.Buffer{})
	return out.String(), err
}

// wantLine fails unless out has a line of check with status whose
// message contains each of words.
func wantLine(t *testing.T, out, status, check string, words ...string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != status || f[1] != check {
			continue
		}
		all := true
		for _, w := range words {
			all = all && strings.Contains(line, w)
		}
		if all {
			return
		}
	}
	t.Errorf("no %q line for %s with %q in:\n%s", status, check, words, out)
}

// noLine fails if out has a line of check with status whose message
// contains word.
func noLine(t *testing.T, out, status, check, word string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == status && f[1] == check && strings.Contains(line, word) {
			t.Errorf("a %q line for %s with %q: %s", status, check, word, line)
		}
	}
}

func TestCheckPassesWithWarningsOnTheDefaults(t *testing.T) {
	out, err := runCheck(t, nil)
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	wantLine(t, out, "ok", "config", "memory")
	wantLine(t, out, "ok", "listen", "is free")
	wantLine(t, out, "warn", "redirect-uri", "OAUTH_CALLBACK_PUBLIC_URL is unset")
	wantLine(t, out, "warn", "api-token", "the API is open")
	wantLine(t, out, "ok", "sign-in-links", "off")
}

// Every bad variable at once, as at start-up, and exit 1.
func TestCheckFailsOnABadConfiguration(t *testing.T) {
	out, err := runCheck(t, map[string]string{"OAUTH_CALLBACK_TTL": "forever", "OAUTH_CALLBACK_API_TOKENS": ","})
	if !errors.Is(err, errChecksFailed) {
		t.Fatalf("check: %v, want a failure", err)
	}
	wantLine(t, out, "fail", "config", "OAUTH_CALLBACK_TTL")
	wantLine(t, out, "fail", "config", "OAUTH_CALLBACK_API_TOKENS")
}

// The original README's "port already in use", with who holds it.
func TestCheckFailsOnAPortInUseAndNamesItsHolder(t *testing.T) {
	l := testnet.Listen(t) // held by this test process
	_, port, _ := net.SplitHostPort(l.Addr().String())
	out, err := runCheck(t, map[string]string{"OAUTH_CALLBACK_PORT": port})
	if !errors.Is(err, errChecksFailed) {
		t.Fatalf("check: %v\n%s", err, out)
	}
	wantLine(t, out, "fail", "listen", "cannot be bound", "pid "+strconv.Itoa(os.Getpid()), "OAUTH_CALLBACK_HOST/PORT")
}

func TestCheckFailsWhenRedisDoesNotAnswer(t *testing.T) {
	l := testnet.Listen(t)
	testnet.Refuse(t, l)
	out, err := runCheck(t, map[string]string{"OAUTH_CALLBACK_REDIS_URL": "redis://" + l.Addr().String(), "OAUTH_CALLBACK_STORE_TIMEOUT": "200ms"})
	if !errors.Is(err, errChecksFailed) {
		t.Fatalf("check: %v\n%s", err, out)
	}
	wantLine(t, out, "fail", "store", "redis:", "check the address")
}

// What a Redis must be to keep every sign-in: each way it is not is named.
func TestCheckReportsWhatRedisLacks(t *testing.T) {
	t.Parallel()
	t.Run("no maxmemory", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t)
		out, err := runCheck(t, map[string]string{"OAUTH_CALLBACK_REDIS_URL": srv.URL()})
		if err != nil {
			t.Fatalf("check: %v\n%s", err, out)
		}
		wantLine(t, out, "ok", "store", "answers: Redis", "master with 0 replicas")
		wantLine(t, out, "warn", "store", "no maxmemory", "at least 96MiB")
	})
	t.Run("more replicas asked for than there are", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t)
		out, err := runCheck(t, map[string]string{"OAUTH_CALLBACK_REDIS_URL": srv.URL(), "OAUTH_CALLBACK_REDIS_MIN_REPLICAS": "1"})
		if !errors.Is(err, errChecksFailed) {
			t.Fatalf("check: %v\n%s", err, out)
		}
		wantLine(t, out, "fail", "store", "OAUTH_CALLBACK_REDIS_MIN_REPLICAS is 1", "0 replicas")
	})
}

// First time right, round 2, item 7: maxmemory 70mb with the default
// 64 MiB budget passed ("fits below Redis's maxmemory") while the docs and
// the chart ask for 1.5 times the budget. The one rule,
// callback.MinMaxmemory, decides; deploy/test holds the chart to it.
func TestCheckHoldsMaxmemoryToTheSizingRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		maxmemory, budget string
		wantFail          bool
		want              []string
	}{
		{"70mb", "", true, []string{"Redis's maxmemory (70MiB) is below 96MiB, 1.5 times OAUTH_CALLBACK_MAX_MEMORY (64MiB)", "raise maxmemory to at least 96MiB, or lower OAUTH_CALLBACK_MAX_MEMORY to 46MiB"}},
		{"32mb", "64MiB", true, []string{"is below 96MiB", "new callbacks get 503 from Redis"}},
		{"96mb", "", false, []string{"Redis's maxmemory (96MiB) holds the byte budget: at least 96MiB, 1.5 times OAUTH_CALLBACK_MAX_MEMORY (64MiB)"}},
		{"192mb", "64mb", false, []string{"Redis's maxmemory (192MiB) holds the byte budget"}}, // compose's numbers, the budget in Redis's spelling
		{"100mb", "128MiB", true, []string{"(100MiB) is below 192MiB, 1.5 times OAUTH_CALLBACK_MAX_MEMORY (128MiB)"}},
	}
	for _, tt := range tests {
		t.Run(tt.maxmemory+" for "+tt.budget, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, "--maxmemory", tt.maxmemory, "--maxmemory-policy", "noeviction")
			env := map[string]string{"OAUTH_CALLBACK_REDIS_URL": srv.URL()}
			if tt.budget != "" {
				env["OAUTH_CALLBACK_MAX_MEMORY"] = tt.budget
			}
			out, err := runCheck(t, env)
			if tt.wantFail != errors.Is(err, errChecksFailed) {
				t.Fatalf("check: %v, want a failure %v\n%s", err, tt.wantFail, out)
			}
			status := map[bool]string{true: "fail", false: "ok"}[tt.wantFail]
			wantLine(t, out, status, "store", tt.want...)
		})
	}
}

// First time right, round 2, item 8: allkeys-lru was only a warning,
// though an evicted callback is a sign-in lost; every key the store
// writes has a TTL, so the volatile-* policies evict them as readily.
// Only noeviction passes.
func TestCheckFailsOnEveryPolicyThatCanEvict(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "noeviction"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, "--maxmemory", "256mb", "--maxmemory-policy", policy)
			out, err := runCheck(t, map[string]string{"OAUTH_CALLBACK_REDIS_URL": srv.URL()})
			if policy == "noeviction" {
				if err != nil {
					t.Fatalf("check: %v\n%s", err, out)
				}
				noLine(t, out, "fail", "store", "maxmemory-policy")
				noLine(t, out, "warn", "store", "maxmemory-policy")
				return
			}
			if !errors.Is(err, errChecksFailed) {
				t.Fatalf("check: %v, want a failure\n%s", err, out)
			}
			wantLine(t, out, "fail", "store", `maxmemory-policy is "`+policy+`"`, "a sign-in lost", "set maxmemory-policy noeviction")
		})
	}
}

// First time right, round 2, item 10: go-redis logged its own "failed to
// dial after 5 attempts" line (to stderr, through its process-wide
// logger) before check's report. The report is the only output: nothing
// reaches go-redis's logger. Not parallel: the logger is the process's.
func TestCheckIsTheOnlyOutputWhenRedisIsDown(t *testing.T) {
	client := &recordingRedisLogger{}
	redis.SetLogger(client)
	t.Cleanup(func() { redisstore.RouteClientLogs(slog.New(slog.DiscardHandler), time.Hour) })
	l := testnet.Listen(t)
	testnet.Refuse(t, l)
	out, err := runCheck(t, map[string]string{"OAUTH_CALLBACK_REDIS_URL": "redis://" + l.Addr().String(), "OAUTH_CALLBACK_STORE_TIMEOUT": "200ms"})
	if !errors.Is(err, errChecksFailed) {
		t.Fatalf("check: %v\n%s", err, out)
	}
	wantLine(t, out, "fail", "store", "check the address")
	if lines := client.lines(); len(lines) > 0 {
		t.Errorf("go-redis logged, beside the report:\n%s", strings.Join(lines, "\n"))
	}
}

// recordingRedisLogger stands where go-redis's default logger (stderr) is.
type recordingRedisLogger struct {
	mu  sync.Mutex
	got []string
}

func (l *recordingRedisLogger) Printf(_ context.Context, format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, fmt.Sprintf(format, v...))
}

func (l *recordingRedisLogger) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got)
}

// The original README's "check the redirect URI matches exactly" and
// "verify the server is accessible": the URI to register, and whether the
// public URL reaches this service, another one, or nothing.
func TestCheckTellsTheRedirectURIAndWhetherItReachesTheService(t *testing.T) {
	service := startInstance(t, nil)
	out, err := runCheck(t, map[string]string{"OAUTH_CALLBACK_PUBLIC_URL": service.URL})
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	wantLine(t, out, "ok", "redirect-uri", "register exactly "+service.URL+"/callback", "reaches this service")

	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	t.Cleanup(other.Close)
	out, err = runCheck(t, map[string]string{"OAUTH_CALLBACK_PUBLIC_URL": other.URL})
	if !errors.Is(err, errChecksFailed) {
		t.Fatalf("check against another service: %v\n%s", err, out)
	}
	wantLine(t, out, "fail", "redirect-uri", "without being this service")

	gone := testnet.Listen(t)
	testnet.Refuse(t, gone)
	out, err = runCheck(t, map[string]string{"OAUTH_CALLBACK_PUBLIC_URL": testnet.URL(gone)})
	if err != nil {
		t.Fatalf("check against nothing: %v (unreachable from here is a warning)\n%s", err, out)
	}
	wantLine(t, out, "warn", "redirect-uri", "not reachable from here")
}

// A redirect at the redirect URI is reported where it points and never
// followed: check once followed it to whatever answered at the end (here
// something answering as this service, on another host) and said the URL
// "reaches this service", while the provider's form_post would have lost
// the code on the way.
func TestCheckReportsARedirectAtTheRedirectURIWithoutFollowingIt(t *testing.T) {
	var followed atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		followed.Add(1)
		w.Header().Set(httpapi.ProbeHeader, "1")
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(target.Close)
	tests := []struct {
		name      string
		redirect  http.HandlerFunc
		wantWords []string // {public} is the redirecting public URL
	}{
		{"to another host", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/callback", http.StatusFound)
		}, []string{"302 Found", "to " + target.URL + "/callback (another host)", "not followed", "form_post"}},
		{"on the same host", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/callback/", http.StatusPermanentRedirect)
		}, []string{"308 Permanent Redirect", "a redirect to {public}/callback/, not followed"}},
		{"with no Location", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusMovedPermanently)
		}, []string{"301 Moved Permanently", "with no Location"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			redirector := httptest.NewServer(tt.redirect)
			t.Cleanup(redirector.Close)
			out, err := runCheck(t, map[string]string{"OAUTH_CALLBACK_PUBLIC_URL": redirector.URL})
			if !errors.Is(err, errChecksFailed) {
				t.Fatalf("check: %v, want a failure\n%s", err, out)
			}
			words := []string{"register exactly " + redirector.URL + "/callback"}
			for _, w := range tt.wantWords {
				words = append(words, strings.ReplaceAll(w, "{public}", redirector.URL))
			}
			wantLine(t, out, "fail", "redirect-uri", words...)
			noLine(t, out, "ok", "redirect-uri", "reaches this service")
			if n := followed.Load(); n != 0 {
				t.Errorf("the redirect was followed %d times", n)
			}
		})
	}
}

// A redirect from https to plain http is named as such: the code would
// cross the network readable.
func TestRedirectFindingNamesADowngradeToPlainHTTP(t *testing.T) {
	uri := "https://auth.example.com/callback"
	req := httptest.NewRequest(http.MethodHead, uri, nil)
	resp := &http.Response{StatusCode: http.StatusFound, Status: "302 Found", Request: req,
		Header: http.Header{"Location": {"http://auth.example.com/callback"}}}
	got := redirectFinding(uri, resp)
	if got.Status != statusFail || !strings.Contains(got.Message, "to http://auth.example.com/callback (plain http, readable on the way)") {
		t.Errorf("got %+v", got)
	}
}

// Whoever connects from a trusted range names its own client address in
// X-Forwarded-For, and so its own rate-limit bucket: a range wider than a
// /16 (IPv6: a /48) is more than an ingress controller and is warned
// about, naming it and what to trust instead; the proxy's own addresses
// are not.
func TestCheckWarnsOnTrustedProxyRangesWiderThanASite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		trusted  string
		wantWarn []string // the ranges warned about
		wantOK   string   // the ok line's words, when nothing is warned about
	}{
		{"", nil, "none trusted"},
		{"10.0.0.0/8", []string{"10.0.0.0/8"}, ""},
		{"10.244.3.0/24", nil, "believed from 10.244.3.0/24 only"},
		{"10.244.0.0/16,10.244.3.7", nil, "10.244.0.0/16, 10.244.3.7/32"},
		{"10.244.3.0/24,172.16.0.0/12", []string{"172.16.0.0/12"}, ""},
		{"fd00::/8", []string{"fd00::/8"}, ""},
		{"2001:db8:1::/48", nil, "2001:db8:1::/48"},
		{"0.0.0.0/0,::/0", []string{"0.0.0.0/0", "::/0"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.trusted, func(t *testing.T) {
			t.Parallel()
			out, err := runCheck(t, map[string]string{"OAUTH_CALLBACK_TRUSTED_PROXIES": tt.trusted})
			if err != nil {
				t.Fatalf("check: %v (a warning does not fail)\n%s", err, out)
			}
			for _, r := range tt.wantWarn {
				bound := "a /16"
				if strings.Contains(r, ":") {
					bound = "a /48"
				}
				wantLine(t, out, "warn", "proxies", "trusts "+r+", wider than "+bound, "picks its own rate-limit bucket", "ingress controller's own addresses", "networkPolicy.enabled")
			}
			if tt.wantOK != "" {
				wantLine(t, out, "ok", "proxies", tt.wantOK)
				noLine(t, out, "warn", "proxies", "")
			} else {
				noLine(t, out, "ok", "proxies", "")
			}
			if strings.Count(out, "warn  proxies") != len(tt.wantWarn) {
				t.Errorf("want %d warnings about proxies:\n%s", len(tt.wantWarn), out)
			}
		})
	}
}

// An IPv4 range written as IPv6 never matches: peers are compared as IPv4.
func TestCheckWarnsOnAnIPv4RangeWrittenAsIPv6(t *testing.T) {
	out, err := runCheck(t, map[string]string{"OAUTH_CALLBACK_TRUSTED_PROXIES": "::ffff:10.244.3.0/120"})
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	wantLine(t, out, "warn", "proxies", "::ffff:10.244.3.0/120", "matches no peer", "write it 10.244.3.0/24")
}

func TestCheckSaysWhatSignInLinksAllow(t *testing.T) {
	out, err := runCheck(t, map[string]string{
		"OAUTH_CALLBACK_AUTHORIZE_HOSTS": "login.microsoftonline.com", "OAUTH_CALLBACK_RETURN_HOSTS": "app.example.com",
		"OAUTH_CALLBACK_PUBLIC_URL": "http://127.0.0.1:1", "OAUTH_CALLBACK_ENCRYPTION_KEY": strings.Repeat("k", 32),
		"OAUTH_CALLBACK_API_TOKENS": "tok-0123456789abcdef,mail=mail-0123456789abcdef,mail=sha256:" + strings.Repeat("0f", 32),
	})
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	wantLine(t, out, "ok", "sign-in-links", "login.microsoftonline.com", "app.example.com")
	wantLine(t, out, "ok", "api-token", "3 API tokens", "apps default (guaranteed 12.8 MiB: 50% of the 40% only registered sign-ins may use), mail (guaranteed 12.8 MiB: 50% of the 40% only registered sign-ins may use)")
}

func TestCheckJSONIsOneArrayForPrograms(t *testing.T) {
	out, err := runCheck(t, map[string]string{"OAUTH_CALLBACK_TTL": "forever"}, "--json")
	if !errors.Is(err, errChecksFailed) {
		t.Fatalf("check: %v", err)
	}
	var findings []struct{ Check, Status, Message string }
	if err := json.Unmarshal([]byte(out), &findings); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(findings) != 1 || findings[0].Check != "config" || findings[0].Status != "fail" || !strings.Contains(findings[0].Message, "OAUTH_CALLBACK_TTL") {
		t.Fatalf("findings: %+v", findings)
	}
	if _, err := runCheck(t, nil, "--yaml"); err == nil {
		t.Error("an unknown flag was accepted")
	}
}

// A token put in the wrong place in the apps file (a Secret) never reaches
// the start-up error, check or check --json, not even in part; every
// problem of the file is told at once, by its place.
func TestAnAppsFileTokenNeverReachesTheOutput(t *testing.T) {
	const token = "Zq8xWv3KpL9mRt7Yb4Hn"
	path := filepath.Join(t.TempDir(), "apps.yaml")
	file := "apps:\n  mail:\n    tokens: \"" + token + "\"\n    memory_share: .nan\n  files:\n    tokens: [files-token-0123456789]\n    rate_limt_api: 10\n"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OAUTH_CALLBACK_APPS_FILE": path}
	wantPlaces := []string{"line 3: apps.mail.tokens: a list of tokens is expected", "line 4: apps.mail.memory_share: .nan is not a share",
		"line 7: apps.files.rate_limt_api: unknown field, did you mean rate_limit_api?"}
	noToken := func(what, text string) {
		t.Helper()
		for i := 0; i+4 <= len(token); i++ {
			if strings.Contains(text, token[i:i+4]) {
				t.Errorf("%s shows %q of the token:\n%s", what, token[i:i+4], text)
				return
			}
		}
	}

	var stdout, stderr bytes.Buffer
	environ := []string{"OAUTH_CALLBACK_HOST=127.0.0.1", "OAUTH_CALLBACK_PORT=0", "OAUTH_CALLBACK_APPS_FILE=" + path}
	err := run(context.Background(), []string{"oauth-callback-server"}, environ, &stdout, &stderr)
	if err == nil {
		t.Fatal("the service started with a bad apps file")
	}
	startUp := err.Error() + "\n" + stdout.String() + stderr.String()
	noToken("the start-up error", startUp)
	for _, place := range wantPlaces {
		if !strings.Contains(startUp, place) {
			t.Errorf("the start-up error does not say %q:\n%s", place, startUp)
		}
	}

	out, err := runCheck(t, env)
	if !errors.Is(err, errChecksFailed) {
		t.Fatalf("check: %v\n%s", err, out)
	}
	noToken("check", out)
	for _, place := range wantPlaces {
		wantLine(t, out, "fail", "config", "OAUTH_CALLBACK_APPS_FILE", place)
	}

	out, err = runCheck(t, env, "--json")
	if !errors.Is(err, errChecksFailed) {
		t.Fatalf("check --json: %v\n%s", err, out)
	}
	noToken("check --json", out)
	var findings []struct{ Check, Status, Message string }
	if err := json.Unmarshal([]byte(out), &findings); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	var messages []string
	for _, f := range findings {
		messages = append(messages, f.Message)
	}
	noToken("check --json's messages", strings.Join(messages, "\n"))
	if len(findings) != len(wantPlaces) {
		t.Errorf("check --json: %d findings, want one per problem (%d):\n%s", len(findings), len(wantPlaces), out)
	}
}

// First time right, round 2, item 6: run beside the service it checks,
// check failed that service's own listen address ("held by pid 2578
// (oauth-callback-): stop that process"). The service answers HEAD
// /callback as itself, and check says so instead; its metrics listener,
// held by the same process, too.
func TestCheckBesideTheRunningServiceRecognisesIt(t *testing.T) {
	service := startInstance(t, map[string]string{"OAUTH_CALLBACK_METRICS_ADDR": "127.0.0.1:0"})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(service.URL, "http://"))
	metricsAddr := strings.TrimPrefix(service.MetricsURL, "http://")
	out, err := runCheck(t, map[string]string{"OAUTH_CALLBACK_PORT": port, "OAUTH_CALLBACK_METRICS_ADDR": metricsAddr})
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	pid := "pid " + strconv.Itoa(os.Getpid())
	wantLine(t, out, "ok", "listen", "127.0.0.1:"+port+" (OAUTH_CALLBACK_HOST/PORT) is held by an oauth-callback-server, "+pid, "already running")
	wantLine(t, out, "ok", "listen", metricsAddr+" (OAUTH_CALLBACK_METRICS_ADDR) is held by an oauth-callback-server, "+pid)
	noLine(t, out, "fail", "listen", "")
}

// First time right, round 2, item 9: a public URL that is already the
// redirect URI made check advise registering …/callback/callback and
// blame a proxy. It is refused, at start-up as in check, with the base URL
// to set instead.
func TestAPublicURLEndingInTheCallbackPathIsRefused(t *testing.T) {
	t.Parallel()
	for _, public := range []string{"http://localhost:8001/callback", "http://localhost:8001/callback/", "https://auth.example.com/oauth/callback"} {
		base := strings.TrimSuffix(strings.TrimSuffix(public, "/"), "/callback")
		t.Run(public, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"OAUTH_CALLBACK_PUBLIC_URL": public}
			out, err := runCheck(t, env)
			if !errors.Is(err, errChecksFailed) {
				t.Fatalf("check: %v, want a failure\n%s", err, out)
			}
			wantLine(t, out, "fail", "config", "OAUTH_CALLBACK_PUBLIC_URL", "is the redirect URI, not the service's base URL: set it to "+base+" ")
			if strings.Contains(out, "/callback/callback") {
				t.Errorf("check advises …/callback/callback:\n%s", out)
			}
			err = run(context.Background(), []string{"oauth-callback-server"}, environOf(map[string]string{"OAUTH_CALLBACK_PORT": "0", "OAUTH_CALLBACK_PUBLIC_URL": public}), io.Discard, io.Discard)
			var cerr *config.Error
			if !errors.As(err, &cerr) || cerr.Var != "OAUTH_CALLBACK_PUBLIC_URL" || !strings.Contains(err.Error(), "set it to "+base+" ") {
				t.Errorf("start-up: %v, want a configuration error (exit 2) naming OAUTH_CALLBACK_PUBLIC_URL and %s", err, base)
			}
		})
	}
	// A path that only ends in the word is a base URL like any other.
	out, err := runCheck(t, map[string]string{"OAUTH_CALLBACK_PUBLIC_URL": "http://127.0.0.1:1/mycallback"})
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	wantLine(t, out, "warn", "redirect-uri", "register exactly http://127.0.0.1:1/mycallback/callback")
}

// First time right, round 2, item 11: OAUTH_CALLBACK_REDIS_ULR was a
// warning, and the service started on the memory store (two replicas: half
// the sign-ins lost). A name a slip from a known one is a configuration
// error, in check and at start-up (exit 2); others stay warnings.
func TestAMisspeltVariableIsAConfigurationError(t *testing.T) {
	t.Parallel()
	env := map[string]string{"OAUTH_CALLBACK_REDIS_ULR": "redis://redis:6379"}
	out, err := runCheck(t, env)
	if !errors.Is(err, errChecksFailed) {
		t.Fatalf("check: %v, want a failure\n%s", err, out)
	}
	wantLine(t, out, "fail", "config", "OAUTH_CALLBACK_REDIS_ULR", "did you mean OAUTH_CALLBACK_REDIS_URL?")

	err = run(context.Background(), []string{"oauth-callback-server"}, environOf(map[string]string{"OAUTH_CALLBACK_PORT": "0", "OAUTH_CALLBACK_REDIS_ULR": "redis://redis:6379"}), io.Discard, io.Discard)
	var cerr *config.Error
	if !errors.As(err, &cerr) || !strings.Contains(err.Error(), "did you mean OAUTH_CALLBACK_REDIS_URL?") {
		t.Fatalf("start-up: %v, want a configuration error (exit 2) with the did-you-mean", err)
	}

	out, err = runCheck(t, map[string]string{"OAUTH_CALLBACK_SOMETHING_ELSE": "1"})
	if err != nil {
		t.Fatalf("check with a name that is no slip: %v\n%s", err, out)
	}
}

// First time right, round 2, item 12: Redis's own spelling of a size
// (64mb, as in compose) was refused while 64MB passed.
func TestSizesInRedissSpellingAreAccepted(t *testing.T) {
	t.Parallel()
	out, err := runCheck(t, map[string]string{"OAUTH_CALLBACK_MAX_MEMORY": "64mb", "OAUTH_CALLBACK_MAX_CALLBACK_BYTES": "16kb"})
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	wantLine(t, out, "ok", "config", "every variable is valid")
}

// Issue 36, item 5: the binary, not the chart, derives the long-polls a
// replica holds from its memory limit; check says the number and whence.
func TestCheckSaysHowManyLongPollsAReplicaHolds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  map[string]string
		want string
	}{
		{nil, "10000 held at once per replica (OAUTH_CALLBACK_MAX_WAITERS)"},
		{map[string]string{"OAUTH_CALLBACK_MEMORY_LIMIT": "384MiB", "OAUTH_CALLBACK_REDIS_URL": "redis://127.0.0.1:1"}, "10276 held at once per replica, what fits in OAUTH_CALLBACK_MEMORY_LIMIT (384MiB)"},
		{map[string]string{"OAUTH_CALLBACK_MEMORY_LIMIT": "402653184"}, "8178 held at once per replica, what fits in OAUTH_CALLBACK_MEMORY_LIMIT (384MiB)"}, // the memory store's 64 MiB in the pod too
		{map[string]string{"OAUTH_CALLBACK_MEMORY_LIMIT": "384MiB", "OAUTH_CALLBACK_MAX_WAITERS": "2500"}, "2500 held at once per replica (OAUTH_CALLBACK_MAX_WAITERS)"},
	}
	for _, tt := range tests {
		out, _ := runCheck(t, tt.env)
		wantLine(t, out, "ok", "long-poll", tt.want)
	}
	out, err := runCheck(t, map[string]string{"OAUTH_CALLBACK_MEMORY_LIMIT": "96MiB"})
	if !errors.Is(err, errChecksFailed) {
		t.Fatalf("check: %v, want a failure\n%s", err, out)
	}
	wantLine(t, out, "fail", "config", "OAUTH_CALLBACK_MEMORY_LIMIT", "leaves room for 0 long-polls", "set OAUTH_CALLBACK_MAX_WAITERS")
}
