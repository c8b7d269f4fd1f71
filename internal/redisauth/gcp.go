package redisauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/compute/metadata"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// GCPScope is what an access token for Memorystore is asked for.
const GCPScope = "https://www.googleapis.com/auth/cloud-platform"

// gcpEarlyRenewal is how long before its expiry a token cached by
// golang.org/x/oauth2 counts as expired. The Provider asks for the next
// token 70% into an hour-long token's life, 18 minutes before its end:
// past this the library fetches a new one instead of handing back the
// one the connections already have.
const gcpEarlyRenewal = 20 * time.Minute

// GCP is the Source of Google Cloud IAM access tokens for Memorystore: the
// service account's access token is the password of the default user
// (Memorystore ignores the user name), unless a user is configured.
type GCP struct {
	ts       oauth2.TokenSource
	kind     string
	username string
	metadata bool // the token comes from the metadata server

	mu    sync.Mutex
	email string
}

// NewGCP picks the credential the environment describes, read through
// getenv: GOOGLE_APPLICATION_CREDENTIALS, a service account key or a
// workload identity federation configuration (external_account); without
// it, the metadata server (GKE workload identity; GCE_METADATA_HOST moves
// it). One credential, not the library's search: a developer's gcloud
// login on the machine is never used instead. httpClient, when not nil,
// fetches the tokens of a credentials file (a test's CA).
func NewGCP(getenv func(string) string, username string, httpClient *http.Client) (*GCP, error) {
	if username == "" {
		username = "default"
	}
	file := getenv("GOOGLE_APPLICATION_CREDENTIALS")
	if file == "" {
		ts := google.ComputeTokenSource("", GCPScope)
		return &GCP{ts: oauth2.ReuseTokenSourceWithExpiry(nil, ts, gcpEarlyRenewal), kind: "the metadata server's service account (GKE workload identity)", username: username, metadata: true}, nil
	}
	data, err := os.ReadFile(file) // #nosec G304 -- the operator's GOOGLE_APPLICATION_CREDENTIALS
	if err != nil {
		return nil, fmt.Errorf("read GOOGLE_APPLICATION_CREDENTIALS: %w", err)
	}
	var head struct {
		Type        string `json:"type"`
		ClientEmail string `json:"client_email"`
		Audience    string `json:"audience"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("GOOGLE_APPLICATION_CREDENTIALS %s is not JSON: %w", file, err)
	}
	g := &GCP{username: username}
	switch google.CredentialsType(head.Type) {
	case google.ServiceAccount:
		g.kind, g.email = "service account key", head.ClientEmail
	case google.ExternalAccount:
		g.kind = "workload identity federation, audience " + head.Audience
	case google.ImpersonatedServiceAccount:
		g.kind = "impersonated service account"
	default:
		return nil, fmt.Errorf("GOOGLE_APPLICATION_CREDENTIALS %s is of type %q: want a service_account key, an external_account (workload identity federation) or an impersonated_service_account configuration", file, head.Type)
	}
	// The context is kept by the library for every later token request.
	ctx := context.Background()
	if httpClient != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, httpClient)
	}
	creds, err := google.CredentialsFromJSONWithType(ctx, data, google.CredentialsType(head.Type), GCPScope)
	if err != nil {
		return nil, fmt.Errorf("GOOGLE_APPLICATION_CREDENTIALS %s: %w", file, err)
	}
	g.ts = oauth2.ReuseTokenSourceWithExpiry(nil, creds.TokenSource, gcpEarlyRenewal)
	return g, nil
}

// Identity implements Source.
func (g *GCP) Identity() Identity {
	g.mu.Lock()
	defer g.mu.Unlock()
	who := g.kind
	if g.email != "" {
		who += " " + g.email
	}
	// A Compute Engine default service account is the node's: on GKE,
	// the metadata server hands it out when workload identity is off.
	return Identity{Cloud: "Google Cloud IAM", Who: who, Node: strings.HasSuffix(g.email, "-compute@developer.gserviceaccount.com")}
}

// Token implements Source. golang.org/x/oauth2 takes no context, so a
// request past ctx's end is left to finish (bounded by its HTTP client)
// while the caller goes on.
func (g *GCP) Token(ctx context.Context) (Token, error) {
	type result struct {
		t   *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		t, err := g.ts.Token()
		done <- result{t, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		return Token{}, fmt.Errorf("get a Google Cloud access token: %w", ctx.Err())
	}
	if r.err != nil {
		return Token{}, fmt.Errorf("get a Google Cloud access token: %w", r.err)
	}
	if r.t.AccessToken == "" || r.t.Expiry.IsZero() {
		return Token{}, errors.New("the Google Cloud access token is empty or has no expiry")
	}
	g.learnEmail(ctx)
	return Token{Username: g.username, Password: r.t.AccessToken, ExpiresOn: r.t.Expiry}, nil
}

// learnEmail asks the metadata server, once, which service account its
// tokens are of, for the log and check; nothing depends on the answer.
func (g *GCP) learnEmail(ctx context.Context) {
	g.mu.Lock()
	known := g.email != "" || !g.metadata
	g.mu.Unlock()
	if known {
		return
	}
	email, err := metadata.EmailWithContext(ctx, "default")
	if err != nil || email == "" {
		return
	}
	g.mu.Lock()
	g.email = email
	g.mu.Unlock()
}

var _ Source = (*GCP)(nil)
