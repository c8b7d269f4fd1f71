package e2e

// The Go client (clients/go) against the real HTTP API, in process: what
// each answer of the server makes of a Wait, Register, Status or Cancel.
// clients/go's own tests cover what needs no server.

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	client "github.com/oauth-callback-server/oauth-callback-server/clients/go"
	"github.com/oauth-callback-server/oauth-callback-server/internal/apps"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/memstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/httpapi"
	"github.com/oauth-callback-server/oauth-callback-server/internal/metrics"
)

// inProcessAPI is a real oauth-callback-server handler on a real listener, with
// a count of the API requests it received.
type inProcessAPI struct {
	*httptest.Server
	apiRequests atomic.Int64
}

func startInProcessAPI(t *testing.T, maxWait time.Duration) *inProcessAPI {
	t.Helper()
	store := memstore.New(callback.StoreConfig{TTL: 10 * time.Minute}, memstore.Config{MaxEntries: 1000})
	t.Cleanup(func() { store.Close() })
	h := httpapi.NewServer(store, slog.New(slog.DiscardHandler), metrics.New(), httpapi.Options{Config: httpapi.Config{LongPoll: httpapi.LongPollConfig{MaxWait: maxWait, MaxWaiters: 100}}})
	s := &inProcessAPI{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			s.apiRequests.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// callbackAfter delivers a provider redirect to the server after d.
func (s *inProcessAPI) callbackAfter(t *testing.T, d time.Duration, query string) {
	t.Helper()
	go func() {
		time.Sleep(d)
		resp, err := http.Get(s.URL + "/callback?" + query)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
	}()
}

func newGoClient(t *testing.T, base string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(base, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGoClientWaitLongPolls(t *testing.T) {
	srv := startInProcessAPI(t, time.Minute)
	srv.callbackAfter(t, 200*time.Millisecond, "code=the-code&state=s1&iss=https%3A%2F%2Fissuer&session_state=x")
	c := newGoClient(t, srv.URL, client.WithPollInterval(time.Hour)) // a plain poll would never come back in time
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := c.Wait(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if res.AuthCode != "the-code" || res.State != "s1" || res.Iss != "https://issuer" || res.Params["session_state"] != "x" || res.ReceivedAt.IsZero() {
		t.Errorf("result: %+v", res)
	}
	if n := srv.apiRequests.Load(); n != 1 {
		t.Errorf("API requests: %d, want 1 long-poll", n)
	}
}

func TestGoClientWaitFallsBackToPollingWithoutLongPoll(t *testing.T) {
	srv := startInProcessAPI(t, 0) // long-poll off, as on the original service
	srv.callbackAfter(t, 300*time.Millisecond, "code=polled&state=s2")
	c := newGoClient(t, srv.URL, client.WithPollInterval(50*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := c.Wait(ctx, "s2")
	if err != nil {
		t.Fatal(err)
	}
	if res.AuthCode != "polled" {
		t.Errorf("code: %q", res.AuthCode)
	}
	if n := srv.apiRequests.Load(); n < 3 {
		t.Errorf("API requests: %d, want several plain polls", n)
	}
}

func TestGoClientWaitProviderError(t *testing.T) {
	srv := startInProcessAPI(t, time.Minute)
	srv.callbackAfter(t, 0, "error=access_denied&error_description=The+user+declined&state=s3")
	_, err := newGoClient(t, srv.URL).Wait(context.Background(), "s3")
	var pe *client.ProviderError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want *ProviderError", err)
	}
	if pe.Code != "access_denied" || pe.Description != "The user declined" || pe.Result.State != "s3" {
		t.Errorf("error: %+v", pe)
	}
}

func TestGoClientWaitAlreadyRetrieved(t *testing.T) {
	srv := startInProcessAPI(t, time.Minute)
	srv.callbackAfter(t, 0, "code=c&state=s4")
	c := newGoClient(t, srv.URL)
	if _, err := c.Wait(context.Background(), "s4"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(context.Background(), "s4"); !errors.Is(err, client.ErrAlreadyRetrieved) {
		t.Fatalf("second Wait: got %v, want ErrAlreadyRetrieved", err)
	}
}

func TestGoClientWaitConflict(t *testing.T) {
	srv := startInProcessAPI(t, time.Minute)
	for _, code := range []string{"first", "second"} {
		resp, err := http.Get(srv.URL + "/callback?state=s5&code=" + code)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	c := newGoClient(t, srv.URL)
	if _, err := c.Wait(context.Background(), "s5"); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("Wait on a conflicted state: got %v, want ErrConflict", err)
	}
}

func TestGoClientWaitTimeout(t *testing.T) {
	srv := startInProcessAPI(t, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := newGoClient(t, srv.URL).Wait(ctx, "never")
	if !errors.Is(err, client.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
}

func TestGoClientWaitStopsOnBadRequest(t *testing.T) {
	srv := startInProcessAPI(t, time.Minute)
	_, err := newGoClient(t, srv.URL).Wait(context.Background(), strings.Repeat("x", 600))
	if err == nil || !strings.Contains(err.Error(), "Invalid state") {
		t.Fatalf("got %v, want the server's refusal", err)
	}
}

func TestGoClientWaitSendsTheToken(t *testing.T) {
	store := memstore.New(callback.StoreConfig{TTL: 10 * time.Minute}, memstore.Config{MaxEntries: 1000})
	t.Cleanup(func() { store.Close() })
	srv := httptest.NewServer(httpapi.NewServer(store, slog.New(slog.DiscardHandler), metrics.New(), httpapi.Options{Config: httpapi.Config{
		LongPoll: httpapi.LongPollConfig{MaxWait: time.Minute, MaxWaiters: 10}, Apps: []apps.App{{Name: apps.DefaultName, Digests: [][32]byte{sha256.Sum256([]byte("tok-client-test-0123456789"))}}}}}))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/callback?code=tokened&state=s6")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := newGoClient(t, srv.URL).Wait(context.Background(), "s6"); err == nil || !strings.Contains(err.Error(), "Missing API token") {
		t.Fatalf("without a token: %v, want the server's refusal", err)
	}
	res, err := newGoClient(t, srv.URL, client.WithToken("tok-client-test-0123456789")).Wait(context.Background(), "s6")
	if err != nil || res.AuthCode != "tokened" {
		t.Fatalf("with the token: %+v, %v", res, err)
	}
}

func TestGoClientRegisterThenWaitReturnsMetadata(t *testing.T) {
	store := memstore.New(callback.StoreConfig{TTL: 10 * time.Minute, RequireRegistration: true}, memstore.Config{MaxEntries: 1000})
	t.Cleanup(func() { store.Close() })
	srv := httptest.NewServer(httpapi.NewServer(store, slog.New(slog.DiscardHandler), metrics.New(), httpapi.Options{Config: httpapi.Config{LongPoll: httpapi.LongPollConfig{MaxWait: time.Minute, MaxWaiters: 10}}}))
	t.Cleanup(srv.Close)
	c := newGoClient(t, srv.URL)
	ctx := context.Background()
	if err := c.Register(ctx, "s7", 2*time.Minute, map[string]string{"session": "abc"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Register(ctx, "s7", 0, nil); !errors.Is(err, client.ErrAlreadyRegistered) {
		t.Fatalf("second Register: %v", err)
	}
	resp, err := http.Get(srv.URL + "/callback?code=reg-code&state=s7")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	res, err := c.Wait(ctx, "s7")
	if err != nil || res.AuthCode != "reg-code" || string(res.Metadata) != `{"session":"abc"}` {
		t.Fatalf("got %+v (metadata %s), %v", res, res.Metadata, err)
	}
}

func TestGoClientSignInLinkStatusAndCancel(t *testing.T) {
	store := memstore.New(callback.StoreConfig{TTL: 10 * time.Minute}, memstore.Config{MaxEntries: 1000})
	t.Cleanup(func() { store.Close() })
	srv := httptest.NewServer(httpapi.NewServer(store, slog.New(slog.DiscardHandler), metrics.New(), httpapi.Options{
		Config: httpapi.Config{
			LongPoll:    httpapi.LongPollConfig{MaxWait: time.Minute, MaxWaiters: 10},
			SignInLinks: httpapi.SignInLinksConfig{PublicURL: "https://auth.example.com", AuthorizeHosts: []string{"login.example.com"}},
		},
		BindingSecrets: [][]byte{[]byte("0123456789abcdef0123456789abcdef")},
	}))
	t.Cleanup(srv.Close)
	c := newGoClient(t, srv.URL)
	ctx := context.Background()

	start, err := c.RegisterLink(ctx, "s8", client.Link{AuthorizationURL: "https://login.example.com/authorize?state=s8&redirect_uri=" + url.QueryEscape("https://auth.example.com/callback")}, 0, nil)
	if err != nil || !strings.HasPrefix(start, "https://auth.example.com/start/") {
		t.Fatalf("RegisterLink: %q, %v", start, err)
	}
	if _, err := c.RegisterLink(ctx, "s9", client.Link{AuthorizationURL: "https://evil.example/authorize?state=s9"}, 0, nil); err == nil || !strings.Contains(err.Error(), "OAUTH_CALLBACK_AUTHORIZE_HOSTS") {
		t.Fatalf("a host the server does not allow: %v", err)
	}
	st, err := c.Status(ctx, "s8")
	if err != nil || st.Status != "registered" || st.ExpiresAt == nil {
		t.Fatalf("Status: %+v, %v", st, err)
	}
	if err := c.Cancel(ctx, "s8"); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if _, err := c.Wait(ctx, "s8"); !errors.Is(err, client.ErrCancelled) {
		t.Fatalf("Wait after Cancel: %v, want ErrCancelled", err)
	}
	if err := c.Cancel(ctx, "never"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Cancel of an unknown state: %v, want ErrNotFound", err)
	}
}
