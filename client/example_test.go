package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/client"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/memstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/httpapi"
	"github.com/oauth-callback-server/oauth-callback-server/internal/metrics"
)

func ExampleClient_Wait() {
	// A real server for the example; in production, the Service URL,
	// e.g. "http://oauth-callback-server:8000".
	store := memstore.New(memstore.Options{TTL: 10 * time.Minute, MaxEntries: 1000})
	defer store.Close()
	srv := httptest.NewServer(httpapi.NewServer(store, slog.New(slog.DiscardHandler), metrics.New(), httpapi.Options{MaxWait: time.Minute, MaxWaiters: 10}))
	defer srv.Close()

	state := "Dq1tC7uFcNcOz9-5sK3y_VbmWYfH4G1oYzLrQ2aBcDe" // random, one per sign-in
	// ...send the person to the authorization URL with this state; the
	// provider redirects their browser to /callback:
	go func() {
		time.Sleep(100 * time.Millisecond)
		resp, err := http.Get(srv.URL + "/callback?code=0.AXoA-example&state=" + state)
		if err == nil {
			resp.Body.Close()
		}
	}()

	c, err := client.New(srv.URL)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := c.Wait(ctx, state)
	var providerErr *client.ProviderError
	switch {
	case errors.As(err, &providerErr):
		fmt.Println("sign-in failed:", providerErr.Code)
	case errors.Is(err, client.ErrAlreadyRetrieved):
		fmt.Println("someone else took this callback: start again")
	case err != nil:
		fmt.Println("no callback:", err)
	default:
		// Exchange res.AuthCode at the token endpoint with the PKCE verifier.
		fmt.Println("code:", res.AuthCode)
	}
	// Output: code: 0.AXoA-example
}
