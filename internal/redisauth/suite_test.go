package redisauth_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/redisstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/redisauth"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/authtest"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testlog"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testwait"
)

// tokenLifetime is how long the stand-ins' tokens live: long enough for a
// sign-in cycle, short enough for several rotations in a test. Whole
// seconds, as AWS counts.
const tokenLifetime = 2 * time.Second

// cloud is one identity side of the shared suite, played locally, with
// what the suite asks of it.
type cloud struct {
	article string // the identity service as the log names it: "an AWS IAM"
	auth    string // OAUTH_CALLBACK_REDIS_AUTH
	user    string // the Redis user its tokens sign in as
	// source is the Source under test, wired to the stand-in.
	source func(t *testing.T) redisauth.Source
	// verify checks a password as the managed Redis would.
	verify     func(user, password string) (time.Time, error)
	setFailure func(msg string)
	refusals   func() int
	refusal    string // a refusal's words, which the log must carry
	who        string // the identity's words, which the log must carry
}

// runSuite runs every test of the shared suite against the cloud that
// newCloud plays. Each test starts its own stand-ins and Redis.
func runSuite(t *testing.T, newCloud func(t *testing.T) cloud) {
	t.Run("TokensRotateOnLiveConnections", func(t *testing.T) { testTokensRotateOnLiveConnections(t, newCloud(t)) })
	t.Run("TokensRotateOnCluster", func(t *testing.T) { testTokensRotateOnCluster(t, newCloud(t)) })
	t.Run("NoTokenFailsThenRecovers", func(t *testing.T) { testNoTokenFailsThenRecovers(t, newCloud(t)) })
}

// signedIn is a store signed in through the cloud on Redis the cache
// guards.
type signedIn struct {
	store *redisstore.Store
	cache *authtest.Cache
	log   *testlog.Buffer
}

func signIn(t *testing.T, c cloud, cfg redisstore.Config, addrs []string) signedIn {
	t.Helper()
	cache, err := authtest.NewCache(context.Background(), addrs, cfg.TLS, c.user, c.verify)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	log := &testlog.Buffer{}
	p := redisauth.NewProvider(authtest.Installing(c.source(t), cache), redisauth.Options{Timeout: time.Second, Log: slog.New(slog.NewTextHandler(log, nil))})
	cfg.Auth, cfg.Credentials, cfg.Timeout = c.auth, p, time.Second
	client, err := redisstore.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := redisstore.New(client, callback.StoreConfig{}, redisstore.Options{Cluster: cfg.Cluster()})
	t.Cleanup(func() { _ = s.Close() })
	return signedIn{store: s, cache: cache, log: log}
}

func onTLSRedis(t *testing.T, c cloud) signedIn {
	t.Helper()
	srv := authtest.StartTLSRedis(t)
	return signIn(t, c, redisstore.Config{URL: srv.URL(), TLS: srv.Client}, []string{srv.Addr})
}

// authCalls is how many AUTH commands the node has run.
func authCalls(t *testing.T, admin *redis.Client) int {
	t.Helper()
	info, err := admin.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_auth:calls="); ok {
			n, _ := strconv.Atoi(strings.SplitN(rest, ",", 2)[0])
			return n
		}
	}
	return 0
}

// connections are the ids of the node's connections signed in as user.
func connections(t *testing.T, admin *redis.Client, user string) map[string]bool {
	t.Helper()
	list, err := admin.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " user="+user+" ") {
			continue
		}
		for _, field := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(field, "id="); ok {
				out[id] = true
			}
		}
	}
	return out
}

// testTokensRotateOnLiveConnections: under load, with tokens that live two
// seconds and stop being accepted when they expire, every sign-in cycle
// succeeds, and the connections that were open before the rotations are
// still open, authenticated again in place (AUTH) rather than reconnected.
func testTokensRotateOnLiveConnections(t *testing.T, c cloud) {
	s := onTLSRedis(t, c)
	admin := s.cache.Admins[0]
	var before map[string]bool
	var authsBefore int
	rotations := signInsAcrossRotations(t, s, func() {
		before, authsBefore = connections(t, admin, c.user), authCalls(t, admin)
	})
	after := connections(t, admin, c.user)
	survived := 0
	for id := range before {
		if after[id] {
			survived++
		}
	}
	if survived == 0 {
		t.Errorf("none of the %d connections open before the rotations is still open: they reconnected instead of authenticating again", len(before))
	}
	if reauths := authCalls(t, admin) - authsBefore; reauths < survived*(rotations-1) {
		t.Errorf("%d AUTH commands over %d rotations on %d live connections: the live connections were not given the new tokens", reauths, rotations, survived)
	}
	t.Logf("%d rotations, %d of %d connections kept", rotations, survived, len(before))
}

// testTokensRotateOnCluster: the same on Redis Cluster (Azure's OSS
// cluster policy, ElastiCache's cluster mode, Memorystore for Redis
// Cluster), where every node has its own connections to sign in.
func testTokensRotateOnCluster(t *testing.T, c cloud) {
	cluster := redistest.StartCluster(t, 3, 0)
	for _, n := range cluster.Nodes {
		n.Cmd(t, "ACL", "SETUSER", authtest.AdminUser, "on", ">"+authtest.AdminPassword, "~*", "&*", "+@all")
	}
	s := signIn(t, c, redisstore.Config{ClusterAddrs: cluster.Addrs()}, cluster.Addrs())
	authsBefore := 0
	rotations := signInsAcrossRotations(t, s, func() {
		for _, admin := range s.cache.Admins {
			authsBefore += authCalls(t, admin)
		}
	})
	auths := -authsBefore
	for i, admin := range s.cache.Admins {
		auths += authCalls(t, admin)
		if len(connections(t, admin, c.user)) == 0 {
			t.Errorf("node %s has no connection signed in as %s", cluster.Nodes[i].Addr, c.user)
		}
	}
	if auths < len(cluster.Nodes)*(rotations-1) {
		t.Errorf("%d AUTH commands over %d rotations on %d nodes: the nodes' connections were not given the new tokens", auths, rotations, len(cluster.Nodes))
	}
}

// signInsAcrossRotations runs sign-in cycles on 8 workers while the cache
// accepts at least four more tokens and one more lifetime passes, and
// fails the test if any cycle fails. mark runs once the load is on, before
// the rotations counted; it returns how many there were.
func signInsAcrossRotations(t *testing.T, s signedIn, mark func()) int {
	t.Helper()
	ctx := context.Background()
	var cycles, failures atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				state := fmt.Sprintf("rotation-%d-%d", w, i)
				_, err := s.store.Put(ctx, callback.Callback{State: state, Code: "code-" + state})
				if err == nil {
					_, err = s.store.Take(ctx, callback.AnyApp(), state)
				}
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				cycles.Add(1)
			}
		}()
	}
	testwait.Until(t, 10*time.Second, "load on the pool's connections", func() bool { return cycles.Load() > 100 })
	mark()
	tokensBefore := s.cache.Accepted()
	testwait.Until(t, 30*time.Second, "four more tokens accepted", func() bool { return s.cache.Accepted() >= tokensBefore+4 })
	// By now the tokens the first connections signed in with have expired
	// and been withdrawn (the cache withdraws them as it accepts newer
	// ones). Load goes on for half the newest token's life more, and 100
	// cycles at least, on connections whose first password is gone.
	last := cycles.Load()
	testwait.Until(t, 10*time.Second, "load on after the rotations", func() bool {
		return time.Now().After(s.cache.LastExpiry().Add(-tokenLifetime/2)) && cycles.Load() > last+100
	})
	close(stop)
	wg.Wait()

	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d cycles failed during rotation; first: %v", n, cycles.Load()+n, firstErr.Load())
	}
	t.Logf("%d cycles", cycles.Load())
	return s.cache.Accepted() - tokensBefore
}

// testNoTokenFailsThenRecovers: when the identity service stops handing
// out tokens and the last one expires (the managed Redis then closes its
// connections), the store answers ErrUnavailable, which the service turns
// into 503 and a failing /readyz; one log line names the identity and the
// cause; when tokens can be had again, the store recovers by itself.
func testNoTokenFailsThenRecovers(t *testing.T, c cloud) {
	s := onTLSRedis(t, c)
	ctx := context.Background()
	if err := s.store.Ping(ctx); err != nil {
		t.Fatalf("with a token: %v", err)
	}

	c.setFailure(c.refusal)
	testwait.Until(t, 10*time.Second, "the last token expired", func() bool { return time.Now().After(s.cache.LastExpiry()) })
	if err := s.cache.WithdrawAll(ctx); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.store.Ping(ctx); !errors.Is(err, callback.ErrUnavailable) {
			t.Fatalf("without a token: %v, want ErrUnavailable", err)
		}
	}
	if _, err := s.store.Put(ctx, callback.Callback{State: "no-token", Code: "c"}); !errors.Is(err, callback.ErrUnavailable) {
		t.Fatalf("Put without a token: %v, want ErrUnavailable", err)
	}
	testwait.Until(t, 10*time.Second, "three token requests refused", func() bool {
		_ = s.store.Ping(ctx)
		return c.refusals() >= 3
	})
	lines := s.log.String()
	if n := strings.Count(lines, "cannot get "+c.article+" token"); n != 1 {
		t.Errorf("%d failure lines, want one (a minute apart):\n%s", n, lines)
	}
	for _, want := range []string{c.who, c.refusal} {
		if !strings.Contains(lines, want) {
			t.Errorf("the failure line does not say %q:\n%s", want, lines)
		}
	}

	c.setFailure("")
	testwait.Until(t, 10*time.Second, "the store recovered once tokens could be had", func() bool { return s.store.Ping(ctx) == nil })
	if !strings.Contains(s.log.String(), "got "+c.article+" token for Redis again") {
		t.Errorf("no line says it recovered:\n%s", s.log.String())
	}
}
