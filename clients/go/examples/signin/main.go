// Command signin is a whole sign-in against a running oauth-callback-server,
// in one command.
//
// What it needs: the service, started with `make run` in the repository
// (http://localhost:8000; another address in CALLBACK_SERVICE_URL, and the
// API token in CALLBACK_SERVICE_TOKEN if the service has
// OAUTH_CALLBACK_API_TOKENS). From the repository's root:
//
//	go -C clients/go run ./examples/signin
//
// It plays the MCP server: it makes a state and a PKCE verifier, registers
// the state with the verifier as metadata, and waits for the callback. No
// identity provider takes part: standing in for one, the example itself
// visits /callback with a made-up code, as the provider's redirect of the
// person's browser would. The wait then hands the MCP server the code and
// the verifier, which it would exchange at the provider's token endpoint.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	client "github.com/oauth-callback-server/oauth-callback-server/clients/go"
)

func main() {
	service := strings.TrimSuffix(os.Getenv("CALLBACK_SERVICE_URL"), "/")
	if service == "" {
		service = "http://localhost:8000"
	}
	if err := signIn(context.Background(), service, os.Getenv("CALLBACK_SERVICE_TOKEN"), os.Stdout); err != nil {
		var unreachable *url.Error
		if errors.As(err, &unreachable) {
			fmt.Fprintf(os.Stderr, "no oauth-callback-server at %s (%v): start it with `make run` in the repository\n", service, unreachable.Err)
		} else {
			fmt.Fprintln(os.Stderr, "the sign-in failed:", err)
		}
		os.Exit(1)
	}
}

func signIn(ctx context.Context, service, token string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := client.New(service, client.WithToken(token))
	if err != nil {
		return err
	}
	state, verifier := random(32), random(48)
	challenge := sha256.Sum256([]byte(verifier))
	if err := c.Register(ctx, state, 5*time.Minute, map[string]string{"verifier": verifier}); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	fmt.Fprintf(out, "MCP server: registered state %s…; the person would now sign in at the provider (code_challenge=%s…), which sends their browser back to %s/callback\n",
		state[:8], base64.RawURLEncoding.EncodeToString(challenge[:])[:8], service)

	type waited struct {
		res *client.Result
		err error
	}
	done := make(chan waited, 1)
	go func() {
		res, err := c.Wait(ctx, state)
		done <- waited{res, err}
	}()

	code := "made-up-code-" + random(6)
	fmt.Fprintf(out, "identity provider (a stand-in, no real one here): redirecting to /callback with code %s\n", code)
	// #nosec G704 -- the service the person running the example named
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, service+"/callback?"+url.Values{"code": {code}, "state": {state}}.Encode(), nil)
	if err != nil {
		return err
	}
	page, err := http.DefaultClient.Do(req) // #nosec G704 -- the same
	if err != nil {
		return err
	}
	_ = page.Body.Close()
	fmt.Fprintf(out, "browser: the callback page answered %d\n", page.StatusCode)

	w := <-done
	if w.err != nil {
		return fmt.Errorf("wait: %w", w.err)
	}
	var metadata struct {
		Verifier string `json:"verifier"`
	}
	_ = json.Unmarshal(w.res.Metadata, &metadata)
	its := "its"
	if metadata.Verifier != verifier {
		its = "NOT its"
	}
	fmt.Fprintf(out, "MCP server: got code %s, and %s PKCE verifier: exchange both at the provider's token endpoint\n", w.res.AuthCode, its)
	if w.res.AuthCode != code || metadata.Verifier != verifier {
		return errors.New("the callback is not the one sent")
	}
	fmt.Fprintln(out, "signed in")
	return nil
}

// random is n random bytes, base64url: a state or a PKCE verifier.
func random(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // the system's randomness failed: nothing is safe to do
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
