package e2e

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	client "github.com/oauth-callback-server/oauth-callback-server/clients/go"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testnet"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testwait"
)

// The Go client's run of the shared scenarios (clients/SCENARIOS.md),
// against the real binary: on the memory store, and on a real redis-server
// with two replicas (callbacks land on A, the client waits on B). The
// Python and TypeScript clients run the same names (make test-clients).

// The service is shared by two apps, as by two MCP servers: the scenarios'
// client is mail (scenarioToken), files is the other.
const (
	scenarioToken = "tok-go-client-scenarios-0123456789"
	filesToken    = "tok-go-client-files-app-0123456789"
)

// scenarioService is one setup of the service under the scenarios.
type scenarioService struct {
	store    string
	a, b     string // callbacks go to a, waits to b; the same on memory
	restartB func(t *testing.T)
	hasRedis bool
}

func startScenarioService(t *testing.T, bin, store string, extra ...string) *scenarioService {
	t.Helper()
	env := append([]string{
		"OAUTH_CALLBACK_API_TOKENS=mail=" + scenarioToken + ",files=" + filesToken,
		"OAUTH_CALLBACK_RATE_LIMIT_CALLBACK=0", "OAUTH_CALLBACK_RATE_LIMIT_API=0",
		"OAUTH_CALLBACK_ENCRYPTION_KEY=go-client-scenarios-secret-0123456789",
		"OAUTH_CALLBACK_AUTHORIZE_HOSTS=login.example.com",
		"OAUTH_CALLBACK_LONG_POLL_RECHECK=10m", // only a wake-up delivers in time
		"OAUTH_CALLBACK_LOG_LEVEL=error",
	}, extra...)
	la := testnet.Listen(t)
	env = append(env, "OAUTH_CALLBACK_PUBLIC_URL="+testnet.URL(la))
	s := &scenarioService{store: store}
	if store == "memory" {
		s.a, _ = startReplicaOn(t, bin, la, env...)
		s.b = s.a
		return s
	}
	redis := redistest.Start(t)
	env = append(env, "OAUTH_CALLBACK_REDIS_URL="+redis.URL())
	s.a, _ = startReplicaOn(t, bin, la, env...)
	lb := testnet.Listen(t)
	var stopB func()
	s.b, stopB = startReplicaOn(t, bin, lb, env...)
	s.hasRedis = true
	// The new process belongs to the service's test, not to the subtest
	// that restarts it.
	owner := t
	s.restartB = func(*testing.T) {
		stopB()
		_, stopB = startReplicaOn(owner, bin, lb, env...)
	}
	return s
}

func (s *scenarioService) callback(t *testing.T, state string, params ...string) {
	t.Helper()
	q := url.Values{"state": {state}}
	for i := 0; i+1 < len(params); i += 2 {
		q.Set(params[i], params[i+1])
	}
	resp, err := http.Get(s.a + "/callback?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusConflict {
		t.Fatalf("callback: %d", resp.StatusCode)
	}
}

func (s *scenarioService) waiters(t *testing.T) int {
	t.Helper()
	return int(s.metric(t, "oauth_callback_waiters"))
}

// metric reads one series from replica b's /metrics.
func (s *scenarioService) metric(t *testing.T, series string) float64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.b+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+scenarioToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return n
		}
	}
	return 0
}

func (s *scenarioService) waitForWaiters(t *testing.T, n int) {
	t.Helper()
	testwait.Until(t, 10*time.Second, fmt.Sprintf("the server holds %d long-polls", n), func() bool { return s.waiters(t) == n })
}

// waitForFirstPoll waits until the replica has answered a take with 404.
func (s *scenarioService) waitForFirstPoll(t *testing.T) {
	t.Helper()
	testwait.Until(t, 10*time.Second, "the client polled", func() bool {
		return s.metric(t, `oauth_callback_takes_total{code="404"}`) >= 1
	})
}

func newScenarioClient(t *testing.T, base string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(base, append([]client.Option{client.WithToken(scenarioToken)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type waited struct {
	res *client.Result
	err error
	at  time.Time
}

func waitAsync(ctx context.Context, c *client.Client, state string) <-chan waited {
	out := make(chan waited, 1)
	go func() {
		res, err := c.Wait(ctx, state)
		out <- waited{res, err, time.Now()}
	}()
	return out
}

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// scenarios are the shared scenarios, by name, as the Go client runs them.
var scenarios = map[string]func(t *testing.T, s *scenarioService){
	"takes_a_callback_stored_before_the_wait": func(t *testing.T, s *scenarioService) {
		state := randomState(t)
		s.callback(t, state, "code", "c-1", "session_state", "ss")
		res, err := newScenarioClient(t, s.b).Wait(timeout(t, 10*time.Second), state)
		if err != nil || res.AuthCode != "c-1" || res.State != state || res.Params["session_state"] != "ss" {
			t.Fatalf("Wait: %+v, %v", res, err)
		}
	},
	"long_poll_wakes_on_the_callback": func(t *testing.T, s *scenarioService) {
		var latencies []time.Duration
		c := newScenarioClient(t, s.b)
		for range 20 {
			state := randomState(t)
			w := waitAsync(timeout(t, 30*time.Second), c, state)
			s.waitForWaiters(t, 1)
			sent := time.Now()
			s.callback(t, state, "code", "woken")
			got := <-w
			if got.err != nil || got.res.AuthCode != "woken" {
				t.Fatalf("Wait: %+v, %v", got.res, got.err)
			}
			latencies = append(latencies, got.at.Sub(sent))
		}
		slices.Sort(latencies)
		t.Logf("go client, %s: wake latency median %.1f ms, max %.1f ms (20 waits)", s.store,
			float64(latencies[10].Microseconds())/1000, float64(latencies[19].Microseconds())/1000)
	},
	"provider_error_is_typed": func(t *testing.T, s *scenarioService) {
		state := randomState(t)
		if err := newScenarioClient(t, s.a).Register(context.Background(), state, 0, nil); err != nil {
			t.Fatal(err)
		}
		s.callback(t, state, "error", "access_denied", "error_description", "The user declined")
		_, err := newScenarioClient(t, s.b).Wait(timeout(t, 10*time.Second), state)
		var pe *client.ProviderError
		if !errors.As(err, &pe) || pe.Code != "access_denied" || pe.Description != "The user declined" {
			t.Fatalf("Wait: %v, want the typed provider error", err)
		}
	},
	"second_take_is_already_retrieved": func(t *testing.T, s *scenarioService) {
		state := randomState(t)
		s.callback(t, state, "code", "once")
		c := newScenarioClient(t, s.b)
		if res, err := c.Wait(timeout(t, 10*time.Second), state); err != nil || res.AuthCode != "once" {
			t.Fatalf("first Wait: %+v, %v", res, err)
		}
		if _, err := c.Wait(timeout(t, 10*time.Second), state); !errors.Is(err, client.ErrAlreadyRetrieved) {
			t.Fatalf("second Wait: %v", err)
		}
	},
	"register_twice_is_already_registered": func(t *testing.T, s *scenarioService) {
		state := randomState(t)
		a, b := newScenarioClient(t, s.a), newScenarioClient(t, s.b)
		if err := a.Register(timeout(t, 10*time.Second), state, 0, nil); err != nil {
			t.Fatalf("Register: %v", err)
		}
		if err := b.Register(timeout(t, 10*time.Second), state, 0, nil); !errors.Is(err, client.ErrAlreadyRegistered) {
			t.Fatalf("second Register: %v, want ErrAlreadyRegistered", err)
		}
		received := randomState(t)
		s.callback(t, received, "code", "arrived")
		err := a.Register(timeout(t, 10*time.Second), received, 0, nil)
		if !errors.Is(err, client.ErrAlreadyRegistered) || errors.Is(err, client.ErrAlreadyRetrieved) {
			t.Fatalf("Register of a state with a callback: %v, want ErrAlreadyRegistered", err)
		}
	},
	"admin_consent_is_delivered": func(t *testing.T, s *scenarioService) {
		state := randomState(t)
		s.callback(t, state, "admin_consent", "True", "tenant", "72f988bf-86f1-41af-91ab-2d7cd011db47", "scope", "https://graph.microsoft.com/.default")
		res, err := newScenarioClient(t, s.b).Wait(timeout(t, 10*time.Second), state)
		if err != nil || res.Kind != client.KindAdminConsent || res.AuthCode != "" || res.Tenant() != "72f988bf-86f1-41af-91ab-2d7cd011db47" || res.Scope() != "https://graph.microsoft.com/.default" {
			t.Fatalf("Wait: %+v, %v", res, err)
		}
	},
	"cancel_is_an_error_with_its_subcode": func(t *testing.T, s *scenarioService) {
		state := randomState(t)
		s.callback(t, state, "error", "access_denied", "error_subcode", "cancel")
		_, err := newScenarioClient(t, s.b).Wait(timeout(t, 10*time.Second), state)
		var pe *client.ProviderError
		if !errors.As(err, &pe) || pe.Code != "access_denied" || pe.Result.Params["error_subcode"] != "cancel" {
			t.Fatalf("Wait: %v, want the provider error with its subcode", err)
		}
	},
	"issuer_mismatch_is_refused": func(t *testing.T, s *scenarioService) {
		state, issuer := randomState(t), "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
		c := newScenarioClient(t, s.b)
		if err := c.Register(timeout(t, 10*time.Second), state, 0, nil, client.ExpectIssuer(issuer)); err != nil {
			t.Fatalf("Register: %v", err)
		}
		resp, err := http.Get(s.a + "/callback?" + url.Values{"state": {state}, "code": {"mixed-up"}, "iss": {"https://evil.example"}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("callback from another issuer: %d, want 400", resp.StatusCode)
		}
		s.callback(t, state, "code", "real", "iss", issuer)
		res, err := c.Wait(timeout(t, 10*time.Second), state)
		if err != nil || res.AuthCode != "real" || res.Iss != issuer || res.Issuer != issuer {
			t.Fatalf("Wait: %+v, %v", res, err)
		}
	},
	"retry_on_another_instance_takes_the_sign_in": func(t *testing.T, s *scenarioService) {
		// The Go side of clients/python/examples/mrtr_signin.py: round one on
		// one instance, the retries on another, requestState sealed with the
		// MCP server's key and carrying the state and the user only.
		key := []byte("the MCP server's requestState key, 32+")
		seal := func(claims string) string {
			mac := hmac.New(sha256.New, key)
			mac.Write([]byte(claims))
			return base64.RawURLEncoding.EncodeToString([]byte(claims)) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		}
		open := func(token, user string) (string, bool) {
			body, sum, _ := strings.Cut(token, ".")
			claims, err := base64.RawURLEncoding.DecodeString(body)
			mac := hmac.New(sha256.New, key)
			mac.Write(claims)
			got, _ := base64.RawURLEncoding.DecodeString(sum)
			state, owner, _ := strings.Cut(string(claims), " ")
			return state, err == nil && hmac.Equal(got, mac.Sum(nil)) && owner == user
		}
		first, second := newScenarioClient(t, s.a), newScenarioClient(t, s.b)
		state := randomState(t)
		authURL := "https://login.example.com/authorize?" + url.Values{"client_id": {"app"}, "response_type": {"code"},
			"redirect_uri": {s.a + "/callback"}, "state": {state}}.Encode()
		startURL, err := first.RegisterLink(timeout(t, 10*time.Second), state, client.Link{AuthorizationURL: authURL}, 5*time.Minute,
			map[string]string{"verifier": "the-pkce-verifier"})
		if err != nil {
			t.Fatal(err)
		}
		requestState := seal(state + " alice")
		resume := func(token, user string, wait time.Duration) (*client.Result, string) {
			state, ok := open(token, user)
			if !ok {
				return nil, "refused"
			}
			res, err := second.Wait(timeout(t, wait), state)
			if errors.Is(err, client.ErrTimeout) {
				return nil, "input_required"
			}
			if err != nil {
				t.Fatalf("Wait: %v", err)
			}
			return res, "done"
		}
		if _, got := resume(requestState, "alice", time.Second); got != "input_required" {
			t.Fatalf("a retry before the person finished: %s", got)
		}
		// The person's browser: the link's button binds it, the provider
		// sends it back.
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		opened, err := noFollow.Post(startURL, "application/x-www-form-urlencoded", nil)
		if err != nil || opened.StatusCode != http.StatusSeeOther {
			t.Fatalf("open the link: %v, %v", opened, err)
		}
		opened.Body.Close()
		req, _ := http.NewRequest(http.MethodGet, s.a+"/callback?"+url.Values{"code": {"the-code"}, "state": {state}}.Encode(), nil)
		req.Header.Set("Cookie", strings.SplitN(opened.Header.Get("Set-Cookie"), ";", 2)[0])
		back, err := noFollow.Do(req)
		if err != nil || back.StatusCode != http.StatusOK {
			t.Fatalf("the callback: %v, %v", back, err)
		}
		back.Body.Close()
		if _, got := resume(requestState, "mallory", time.Second); got != "refused" {
			t.Fatalf("another user's retry: %s", got)
		}
		edited := requestState[:len(requestState)-2] + "AA"
		if strings.HasSuffix(requestState, "AA") {
			edited = requestState[:len(requestState)-2] + "BB"
		}
		if _, got := resume(edited, "alice", time.Second); got != "refused" {
			t.Fatalf("an edited requestState: %s", got)
		}
		res, got := resume(requestState, "alice", 10*time.Second)
		if got != "done" || res.AuthCode != "the-code" || string(res.Metadata) != `{"verifier":"the-pkce-verifier"}` {
			t.Fatalf("the retry on the other instance: %s %+v", got, res)
		}
	},
	"conflict_is_reported": func(t *testing.T, s *scenarioService) {
		state := randomState(t)
		s.callback(t, state, "code", "first")
		s.callback(t, state, "code", "second")
		if _, err := newScenarioClient(t, s.b).Wait(timeout(t, 10*time.Second), state); !errors.Is(err, client.ErrConflict) {
			t.Fatalf("Wait: %v, want ErrConflict", err)
		}
	},
	"cancel_ends_the_wait": func(t *testing.T, s *scenarioService) {
		state := randomState(t)
		if err := newScenarioClient(t, s.a).Register(context.Background(), state, 0, nil); err != nil {
			t.Fatal(err)
		}
		w := waitAsync(timeout(t, 30*time.Second), newScenarioClient(t, s.b), state)
		s.waitForWaiters(t, 1)
		if err := newScenarioClient(t, s.a).Cancel(context.Background(), state); err != nil {
			t.Fatal(err)
		}
		if got := <-w; !errors.Is(got.err, client.ErrCancelled) {
			t.Fatalf("Wait: %v, want ErrCancelled", got.err)
		}
	},
	"deadline_raises_timeout": func(t *testing.T, s *scenarioService) {
		if _, err := newScenarioClient(t, s.b).Wait(timeout(t, 1500*time.Millisecond), randomState(t)); !errors.Is(err, client.ErrTimeout) {
			t.Fatalf("Wait: %v, want ErrTimeout", err)
		}
	},
	"token_is_sent_and_required": func(t *testing.T, s *scenarioService) {
		state := randomState(t)
		s.callback(t, state, "code", "tokened")
		anonymous, err := client.New(s.b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := anonymous.Wait(timeout(t, 5*time.Second), state); !errors.Is(err, client.ErrUnauthorized) {
			t.Fatalf("without the token: %v, want ErrUnauthorized", err)
		}
		if res, err := newScenarioClient(t, s.b).Wait(timeout(t, 5*time.Second), state); err != nil || res.AuthCode != "tokened" {
			t.Fatalf("with the token: %+v, %v", res, err)
		}
	},
	"sign_in_link_register_status_cancel": func(t *testing.T, s *scenarioService) {
		state := randomState(t)
		ctx := context.Background()
		start, err := newScenarioClient(t, s.a).RegisterLink(ctx, state,
			client.Link{AuthorizationURL: "https://login.example.com/authorize?client_id=x&state=" + state + "&redirect_uri=" + url.QueryEscape(s.a+"/callback")}, 5*time.Minute, nil)
		if err != nil || !strings.HasPrefix(start, s.a+"/start/") {
			t.Fatalf("RegisterLink: %q, %v", start, err)
		}
		c := newScenarioClient(t, s.b)
		if st, err := c.Status(ctx, state); err != nil || st.Status != "registered" {
			t.Fatalf("Status: %+v, %v", st, err)
		}
		if err := c.Cancel(ctx, state); err != nil {
			t.Fatal(err)
		}
		if st, err := newScenarioClient(t, s.a).Status(ctx, state); err != nil || st.Status != "cancelled" {
			t.Fatalf("Status after Cancel: %+v, %v", st, err)
		}
		if err := c.Cancel(ctx, randomState(t)); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("Cancel of an unknown state: %v", err)
		}
	},
	"survives_a_server_restart": func(t *testing.T, s *scenarioService) {
		if !s.hasRedis {
			t.Fatal("on Redis only: the memory store forgets on restart (redisOnly)")
		}
		state := randomState(t)
		w := waitAsync(timeout(t, 30*time.Second), newScenarioClient(t, s.b), state)
		s.waitForWaiters(t, 1)
		s.restartB(t)
		s.callback(t, state, "code", "after-restart")
		if got := <-w; got.err != nil || got.res.AuthCode != "after-restart" {
			t.Fatalf("Wait: %+v, %v", got.res, got.err)
		}
	},
	"cancellation_leaves_no_request": func(t *testing.T, s *scenarioService) {
		ctx, cancel := context.WithCancel(context.Background())
		w := waitAsync(ctx, newScenarioClient(t, s.b), randomState(t))
		s.waitForWaiters(t, 1)
		cancel()
		if got := <-w; !errors.Is(got.err, context.Canceled) {
			t.Fatalf("Wait: %v, want context.Canceled", got.err)
		}
		s.waitForWaiters(t, 0)
	},
	"another_apps_wait_never_gets_the_callback": func(t *testing.T, s *scenarioService) {
		// Issue 33: another app's long-poll, woken by the callback, took it.
		state := randomState(t)
		if err := newScenarioClient(t, s.a).Register(timeout(t, 10*time.Second), state, 0, nil); err != nil {
			t.Fatal(err)
		}
		files, err := client.New(s.b, client.WithToken(filesToken))
		if err != nil {
			t.Fatal(err)
		}
		filesWait := waitAsync(timeout(t, 4*time.Second), files, state)
		s.waitForWaiters(t, 1)
		s.callback(t, state, "code", "mail-code")
		if got := <-filesWait; !errors.Is(got.err, client.ErrTimeout) {
			t.Fatalf("files' Wait on mail's state: %+v, %v; want ErrTimeout", got.res, got.err)
		}
		res, err := newScenarioClient(t, s.b).Wait(timeout(t, 10*time.Second), state)
		if err != nil || res.AuthCode != "mail-code" {
			t.Fatalf("mail's Wait: %+v, %v", res, err)
		}
	},
}

// redisOnly are the scenarios a memory store cannot pass by design: it
// forgets on restart.
var redisOnly = map[string]bool{"survives_a_server_restart": true}

func TestScenarios(t *testing.T) {
	bin := buildService(t)
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			s := startScenarioService(t, bin, store)
			for _, name := range scenarioNames(t) {
				if name == "polls_a_server_without_long_poll" {
					continue // its own server, below
				}
				if store == "memory" && redisOnly[name] {
					continue
				}
				t.Run(name, func(t *testing.T) { scenarios[name](t, s) })
			}
		})
	}
	t.Run("no long-poll", func(t *testing.T) {
		s := startScenarioService(t, bin, "memory", "OAUTH_CALLBACK_MAX_WAIT=0")
		t.Run("polls_a_server_without_long_poll", func(t *testing.T) {
			state := randomState(t)
			w := waitAsync(timeout(t, 30*time.Second), newScenarioClient(t, s.b), state)
			s.waitForFirstPoll(t) // it found nothing: the callback comes later
			s.callback(t, state, "code", "polled")
			if got := <-w; got.err != nil || got.res.AuthCode != "polled" {
				t.Fatalf("Wait: %+v, %v", got.res, got.err)
			}
			if n := s.waiters(t); n != 0 {
				t.Fatalf("the server held %d long-polls", n)
			}
		})
	})
}

var scenarioRow = regexp.MustCompile("^\\| `([a-z_]+)` \\|")

// scenarioNames reads the shared list from clients/SCENARIOS.md.
func scenarioNames(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../clients/SCENARIOS.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := scenarioRow.FindStringSubmatch(sc.Text()); m != nil {
			names = append(names, m[1])
		}
	}
	if len(names) == 0 {
		t.Fatal("no scenarios in clients/SCENARIOS.md")
	}
	return names
}

// TestEveryClientRunsEveryScenario: each scenario of the shared list is in
// the Go, Python and TypeScript suites under its name, and nothing else is.
func TestEveryClientRunsEveryScenario(t *testing.T) {
	names := scenarioNames(t)
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	python := read("../clients/python/tests/test_scenarios.py")
	typescript := read("../clients/typescript/test/scenarios.test.mjs")
	for _, name := range names {
		if _, inGo := scenarios[name]; !inGo && name != "polls_a_server_without_long_poll" {
			t.Errorf("Go (e2e/scenarios_test.go) lacks %s", name)
		}
		if !strings.Contains(python, "def scenario_"+name+"(") {
			t.Errorf("Python (clients/python/tests/test_scenarios.py) lacks scenario_%s", name)
		}
		if !strings.Contains(typescript, `"scenario `+name+`"`) {
			t.Errorf("TypeScript (clients/typescript/test/scenarios.test.mjs) lacks \"scenario %s\"", name)
		}
	}
	for name := range scenarios {
		if !slices.Contains(names, name) {
			t.Errorf("Go runs %s, which clients/SCENARIOS.md does not list", name)
		}
	}
	for _, m := range regexp.MustCompile(`def scenario_([a-z_]+)\(`).FindAllStringSubmatch(python, -1) {
		if !slices.Contains(names, m[1]) {
			t.Errorf("Python runs %s, which clients/SCENARIOS.md does not list", m[1])
		}
	}
	for _, m := range regexp.MustCompile(`"scenario ([a-z_]+)"`).FindAllStringSubmatch(typescript, -1) {
		if !slices.Contains(names, m[1]) {
			t.Errorf("TypeScript runs %s, which clients/SCENARIOS.md does not list", m[1])
		}
	}
}
