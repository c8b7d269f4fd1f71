package entra_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/auth"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/redisstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/entra"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testlog"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testwait"
)

// objectID is the identity the fake Entra ID issues tokens for: the Redis
// user, as on Azure.
const objectID = "5f0c6ad1-3b8e-4c1f-9a51-0d2f6c7e8a90"

// fakeEntra plays Entra ID and Azure's Redis together: every token it
// hands out becomes a password of the object id's ACL user on a real
// redis-server, and a token past its expiry stops being one, so Redis
// accepts exactly the tokens that are still valid.
type fakeEntra struct {
	admins   []*redis.Client // one per Redis node: ACLs are per node
	lifetime time.Duration

	mu      sync.Mutex
	fail    error
	issued  int
	refused int
	expiry  time.Time
	pending []issuedToken // handed out, password not yet removed
}

type issuedToken struct {
	token   string
	expires time.Time
}

func (f *fakeEntra) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(opts.Scopes) != 1 || opts.Scopes[0] != entra.Scope {
		return azcore.AccessToken{}, fmt.Errorf("asked for scopes %v", opts.Scopes)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		f.refused++
		return azcore.AccessToken{}, f.fail
	}
	f.issued++
	now := time.Now()
	tok := jwt(objectID, f.issued)
	args := []any{"ACL", "SETUSER", objectID, "on", ">" + tok, "~*", "&*", "+@all"}
	keep := f.pending[:0]
	for _, old := range f.pending {
		if now.After(old.expires) {
			args = append(args, "<"+old.token)
		} else {
			keep = append(keep, old)
		}
	}
	for _, admin := range f.admins {
		if err := admin.Do(ctx, args...).Err(); err != nil {
			return azcore.AccessToken{}, err
		}
	}
	f.expiry = now.Add(f.lifetime)
	f.pending = append(keep, issuedToken{tok, f.expiry})
	return azcore.AccessToken{Token: tok, ExpiresOn: f.expiry}, nil
}

func (f *fakeEntra) setFailure(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

// withdrawAll is what Azure does at a token's expiry: the token is no
// longer a password, and the connections signed in with it are closed.
func (f *fakeEntra) withdrawAll(t *testing.T, srv *redistest.Server) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	srv.Cmd(t, "ACL", "SETUSER", objectID, "resetpass")
	srv.Cmd(t, "CLIENT", "KILL", "USER", objectID)
	f.pending = nil
}

func (f *fakeEntra) refusals() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused
}

func (f *fakeEntra) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.issued
}

func (f *fakeEntra) lastExpiry() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.expiry
}

// jwt is an unsigned token shaped like Entra ID's: what the provider reads
// of it is the oid claim; Redis reads it as an opaque password.
func jwt(oid string, n int) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(`{"oid":"`+oid+`","n":`+strconv.Itoa(n)+`}`)) + ".sig"
}

func start(t *testing.T, lifetime time.Duration) (*fakeEntra, *redistest.Server) {
	t.Helper()
	srv := redistest.Start(t)
	return newFake(t, lifetime, srv), srv
}

func newFake(t *testing.T, lifetime time.Duration, nodes ...*redistest.Server) *fakeEntra {
	t.Helper()
	f := &fakeEntra{lifetime: lifetime}
	for _, n := range nodes {
		admin := redis.NewClient(&redis.Options{Addr: n.Addr})
		t.Cleanup(func() { _ = admin.Close() })
		f.admins = append(f.admins, admin)
	}
	return f
}

func openStore(t *testing.T, srv *redistest.Server, p *entra.Provider) *redisstore.Store {
	t.Helper()
	return openStoreOn(t, redisstore.Config{URL: srv.URL()}, p)
}

func openStoreOn(t *testing.T, cfg redisstore.Config, p *entra.Provider) *redisstore.Store {
	t.Helper()
	cfg.Auth, cfg.Credentials, cfg.Timeout = redisstore.AuthEntra, p, time.Second
	client, err := redisstore.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := redisstore.New(client, callback.StoreConfig{}, redisstore.Options{Cluster: cfg.Cluster()})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// authCalls is how many AUTH commands Redis has run.
func authCalls(t *testing.T, srv *redistest.Server) int {
	t.Helper()
	for _, line := range strings.Split(srv.Cmd(t, "INFO", "commandstats"), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_auth:calls="); ok {
			n, _ := strconv.Atoi(strings.SplitN(rest, ",", 2)[0])
			return n
		}
	}
	return 0
}

// connections are the ids of the connections signed in as the object id.
func connections(t *testing.T, srv *redistest.Server) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, line := range strings.Split(srv.Cmd(t, "CLIENT", "LIST"), "\n") {
		if !strings.Contains(line, " user="+objectID+" ") {
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

// TestTokensRotateOnLiveConnections: under load, with tokens that live a
// second and a half and stop being accepted when they expire, every
// sign-in cycle succeeds, and the connections that were open before the
// rotations are still open, authenticated again in place (AUTH) rather
// than reconnected.
func TestTokensRotateOnLiveConnections(t *testing.T) {
	t.Parallel()
	fake, srv := start(t, 1500*time.Millisecond)
	store := openStore(t, srv, entra.NewProvider(fake, entra.Options{Timeout: time.Second}))
	var before map[string]bool
	var authsBefore int
	rotations := signInsAcrossRotations(t, fake, store, func() {
		before, authsBefore = connections(t, srv), authCalls(t, srv)
	})
	after := connections(t, srv)
	survived := 0
	for id := range before {
		if after[id] {
			survived++
		}
	}
	if survived == 0 {
		t.Errorf("none of the %d connections open before the rotations is still open: they reconnected instead of authenticating again", len(before))
	}
	if reauths := authCalls(t, srv) - authsBefore; reauths < survived*(rotations-1) {
		t.Errorf("%d AUTH commands over %d rotations on %d live connections: the live connections were not given the new tokens", reauths, rotations, survived)
	}
	t.Logf("%d rotations, %d of %d connections kept", rotations, survived, len(before))
}

// TestTokensRotateOnCluster: the same on Redis Cluster (Azure's OSS
// cluster policy), where every node has its own connections to sign in.
func TestTokensRotateOnCluster(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3, 0)
	fake := newFake(t, 1500*time.Millisecond, cluster.Nodes...)
	store := openStoreOn(t, redisstore.Config{ClusterAddrs: cluster.Addrs()}, entra.NewProvider(fake, entra.Options{Timeout: time.Second}))
	authsBefore := 0
	rotations := signInsAcrossRotations(t, fake, store, func() {
		for _, n := range cluster.Nodes {
			authsBefore += authCalls(t, n)
		}
	})
	auths := -authsBefore
	for _, n := range cluster.Nodes {
		auths += authCalls(t, n)
		if len(connections(t, n)) == 0 {
			t.Errorf("node %s has no connection signed in as the object id", n.Addr)
		}
	}
	if auths < len(cluster.Nodes)*(rotations-1) {
		t.Errorf("%d AUTH commands over %d rotations on %d nodes: the nodes' connections were not given the new tokens", auths, rotations, len(cluster.Nodes))
	}
}

// signInsAcrossRotations runs sign-in cycles on 8 workers while the fake
// hands out at least four more tokens and one more lifetime passes, and
// fails the test if any cycle fails. mark runs once the load is on, before
// the rotations counted; it returns how many there were.
func signInsAcrossRotations(t *testing.T, fake *fakeEntra, store *redisstore.Store, mark func()) int {
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
				_, err := store.Put(ctx, callback.Callback{State: state, Code: "code-" + state})
				if err == nil {
					_, err = store.Take(ctx, callback.AnyApp(), state)
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
	tokensBefore := fake.count()
	testwait.Until(t, 30*time.Second, "four more tokens handed out", func() bool { return fake.count() >= tokensBefore+4 })
	// By now the tokens the first connections signed in with have expired
	// and been withdrawn (the fake withdraws them as it hands out newer
	// ones). Load goes on for half the newest token's life more, and 100
	// cycles at least, on connections whose first password is gone.
	last := cycles.Load()
	testwait.Until(t, 10*time.Second, "load on after the rotations", func() bool {
		return time.Now().After(fake.lastExpiry().Add(-fake.lifetime/2)) && cycles.Load() > last+100
	})
	close(stop)
	wg.Wait()

	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d cycles failed during rotation; first: %v", n, cycles.Load()+n, firstErr.Load())
	}
	t.Logf("%d cycles", cycles.Load())
	return fake.count() - tokensBefore
}

// TestNoTokenFailsThenRecovers: when Entra ID stops handing out tokens and
// the last one expires (Azure then closes its connections), the store
// answers ErrUnavailable, which the service turns into 503 and a failing
// /readyz; one log line names the identity and the cause; when tokens can
// be had again, the store recovers by itself.
func TestNoTokenFailsThenRecovers(t *testing.T) {
	t.Parallel()
	fake, srv := start(t, 1500*time.Millisecond)
	log := &testlog.Buffer{}
	id := entra.Identity{Kind: "workload identity", ClientID: "c1d2e3f4", TenantID: "contoso"}
	store := openStore(t, srv, entra.NewProvider(fake, entra.Options{Identity: id, Timeout: time.Second, Log: slog.New(slog.NewTextHandler(log, nil))}))
	ctx := context.Background()
	if err := store.Ping(ctx); err != nil {
		t.Fatalf("with a token: %v", err)
	}

	fake.setFailure(errors.New("AADSTS700024: Client assertion is not within its valid time range"))
	testwait.Until(t, 10*time.Second, "the last token expired", func() bool { return time.Now().After(fake.lastExpiry()) })
	fake.withdrawAll(t, srv)
	for range 3 {
		if err := store.Ping(ctx); !errors.Is(err, callback.ErrUnavailable) {
			t.Fatalf("without a token: %v, want ErrUnavailable", err)
		}
	}
	if _, err := store.Put(ctx, callback.Callback{State: "no-token", Code: "c"}); !errors.Is(err, callback.ErrUnavailable) {
		t.Fatalf("Put without a token: %v, want ErrUnavailable", err)
	}
	testwait.Until(t, 10*time.Second, "three token requests refused", func() bool {
		_ = store.Ping(ctx)
		return fake.refusals() >= 3
	})
	lines := log.String()
	if n := strings.Count(lines, "cannot get a Microsoft Entra ID token"); n != 1 {
		t.Errorf("%d failure lines, want one (a minute apart):\n%s", n, lines)
	}
	for _, want := range []string{"client id c1d2e3f4", "AADSTS700024"} {
		if !strings.Contains(lines, want) {
			t.Errorf("the failure line does not say %q:\n%s", want, lines)
		}
	}

	fake.setFailure(nil)
	testwait.Until(t, 10*time.Second, "the store recovered once tokens could be had", func() bool { return store.Ping(ctx) == nil })
	if !strings.Contains(log.String(), "got a Microsoft Entra ID token for Redis again") {
		t.Errorf("no line says it recovered:\n%s", log.String())
	}
}

// TestUsernameIsTheObjectIDUnlessSet: Azure's Redis user is the
// identity's object id, read from the token; a configured user wins; a
// token without one is an error that says what to set.
func TestUsernameIsTheObjectIDUnlessSet(t *testing.T) {
	t.Parallel()
	cases := []struct {
		token, username, wantUser, wantErr string
	}{
		{token: jwt("the-oid", 1), wantUser: "the-oid"},
		{token: jwt("the-oid", 1), username: "configured", wantUser: "configured"},
		{token: "opaque", wantErr: "OAUTH_CALLBACK_REDIS_USERNAME"},
		{token: "a.e30.b", wantErr: "no oid claim"}, // {} as claims
		{token: "opaque", username: "configured", wantUser: "configured"},
	}
	for _, c := range cases {
		cred := staticToken(c.token)
		p := entra.NewProvider(cred, entra.Options{Username: c.username})
		creds, unsubscribe, err := p.Subscribe(nopListener{})
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("token %q: %v, want an error saying %q", c.token, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("token %q: %v", c.token, err)
		}
		user, password := creds.BasicAuth()
		if user != c.wantUser || password != c.token {
			t.Errorf("token %q, username %q: signed in as %q/%q", c.token, c.username, user, password)
		}
		_ = unsubscribe()
	}
}

type staticToken string

func (s staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

type nopListener struct{}

func (nopListener) OnNext(auth.Credentials) {}
func (nopListener) OnError(error)           {}
