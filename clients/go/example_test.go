package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	client "github.com/oauth-callback-server/oauth-callback-server/clients/go"
)

func ExampleClient_Wait() {
	// In production, the service's URL, e.g. "http://oauth-callback-server:8000".
	// Here a stand-in answers as the service does once the provider has
	// redirected the person's browser to /callback.
	service := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"success","auth_code":"0.AXoA-example","state":"Dq1tC7uFcNcOz9-5sK3y_VbmWYfH4G1oYzLrQ2aBcDe","error":null,"error_description":null,"params":{}}`)
	}))
	defer service.Close()

	state := "Dq1tC7uFcNcOz9-5sK3y_VbmWYfH4G1oYzLrQ2aBcDe" // random, one per sign-in
	// ...send the person to the authorization URL with this state, then:
	c, err := client.New(service.URL, client.WithToken("the API token, if the service requires one"))
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
