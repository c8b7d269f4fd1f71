package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	client "github.com/oauth-callback-server/oauth-callback-server/clients/go"
)

// What needs no server. The client against the real API is tested in the
// e2e module (e2e/client_test.go, and the shared scenarios in
// e2e/scenarios_test.go).

func newClient(t *testing.T, base string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(base, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// answering is a stand-in service that gives every request the same answer.
func answering(t *testing.T, status int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Each answer of docs/api.md becomes the same error in every client
// (clients/SCENARIOS.md); these are the Go client's.
func TestAnswersBecomeTheirErrors(t *testing.T) {
	ctx := context.Background()
	wait := func(c *client.Client) error { _, err := c.Wait(ctx, "s"); return err }
	register := func(c *client.Client) error { return c.Register(ctx, "s", 0, nil) }
	cancel := func(c *client.Client) error { return c.Cancel(ctx, "s") }
	status := func(c *client.Client) error { _, err := c.Status(ctx, "s"); return err }
	for _, tt := range []struct {
		name   string
		call   func(*client.Client) error
		status int
		body   string
		want   error
	}{
		{"taken", wait, 410, `{"status":"error","reason":"taken","message":"Callback already retrieved"}`, client.ErrAlreadyRetrieved},
		{"taken, no reason (the original service)", wait, 410, `{"status":"error","message":"Callback already retrieved"}`, client.ErrAlreadyRetrieved},
		{"conflict", wait, 410, `{"status":"error","reason":"conflict","message":"Conflicting callbacks"}`, client.ErrConflict},
		{"cancelled", wait, 410, `{"status":"error","reason":"cancelled","message":"Sign-in cancelled"}`, client.ErrCancelled},
		{"no token", wait, 401, `{"status":"error","message":"Missing API token"}`, client.ErrUnauthorized},
		{"registered twice", register, 409, `{"status":"error","message":"State already registered"}`, client.ErrAlreadyRegistered},
		{"status without the token", status, 401, `{"status":"error","message":"Missing API token"}`, client.ErrUnauthorized},
		{"cancel of an unknown state", cancel, 404, `{"status":"error","message":"Not found"}`, client.ErrNotFound},
		{"register without the token", register, 401, `{"status":"error","message":"Missing API token"}`, client.ErrUnauthorized},
		{"cancel without the token", cancel, 401, `{"status":"error","message":"Missing API token"}`, client.ErrUnauthorized},
		{"cancel of a cancelled state", cancel, 410, `{"status":"error","reason":"cancelled","message":"Sign-in cancelled"}`, client.ErrCancelled},
		{"cancel of a conflicted state", cancel, 410, `{"status":"error","reason":"conflict","message":"Conflicting callbacks"}`, client.ErrConflict},
		{"cancel of a taken state", cancel, 410, `{"status":"error","reason":"taken","message":"Callback already retrieved"}`, client.ErrAlreadyRetrieved},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(newClient(t, answering(t, tt.status, tt.body)))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWaitRetriesServerErrors(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			http.Error(w, `{"status":"error","message":"Callback store unavailable, retry later"}`, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","auth_code":"after-retry","state":"s5","error":null,"error_description":null}`))
	}))
	defer srv.Close()
	res, err := newClient(t, srv.URL, client.WithPollInterval(10*time.Millisecond)).Wait(context.Background(), "s5")
	if err != nil || res.AuthCode != "after-retry" {
		t.Fatalf("got %+v, %v", res, err)
	}
}

func TestNewRejectsBadBaseURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8000", "ftp://x", "http://"} {
		if _, err := client.New(u); err == nil {
			t.Errorf("New(%q): no error", u)
		}
	}
}
