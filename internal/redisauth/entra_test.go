package redisauth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/redis/go-redis/v9/auth"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/redisstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/redisauth"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/authtest"
)

// TestEntra runs the shared suite with Microsoft Entra ID's tokens, as
// Azure Managed Redis takes them.
func TestEntra(t *testing.T) {
	t.Parallel()
	runSuite(t, func(t *testing.T) cloud {
		fake := authtest.NewEntra(tokenLifetime)
		id := redisauth.EntraIdentity{Kind: "workload identity", ClientID: "c1d2e3f4", TenantID: "contoso"}
		return cloud{
			article: "a Microsoft Entra ID", auth: redisstore.AuthEntra, user: authtest.EntraObjectID,
			source:     func(*testing.T) redisauth.Source { return redisauth.NewEntra(fake, id, "") },
			verify:     fake.Verify,
			setFailure: fake.SetFailure, refusals: fake.Refusals,
			refusal: "AADSTS700024: Client assertion is not within its valid time range", who: "client id c1d2e3f4",
		}
	})
}

// TestNewEntraCredentialPicksOneKindFromTheVariables: the AZURE_*
// variables choose exactly one kind of credential, and a kind missing its
// ids is an error that names them.
func TestNewEntraCredentialPicksOneKindFromTheVariables(t *testing.T) {
	cases := []struct {
		name     string
		vars     map[string]string
		wantKind string
		wantErr  string
	}{
		{"AKS workload identity", map[string]string{"AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token", "AZURE_CLIENT_ID": "c", "AZURE_TENANT_ID": "t"}, "workload identity", ""},
		{"workload identity without a tenant", map[string]string{"AZURE_FEDERATED_TOKEN_FILE": "/f", "AZURE_CLIENT_ID": "c"}, "", "AZURE_TENANT_ID"},
		{"service principal with a secret", map[string]string{"AZURE_CLIENT_SECRET": "s", "AZURE_CLIENT_ID": "c", "AZURE_TENANT_ID": "t"}, "service principal", ""},
		{"service principal without ids", map[string]string{"AZURE_CLIENT_SECRET": "s"}, "", "AZURE_CLIENT_ID and AZURE_TENANT_ID"},
		{"a missing certificate", map[string]string{"AZURE_CLIENT_CERTIFICATE_PATH": "/nonexistent.pem", "AZURE_CLIENT_ID": "c", "AZURE_TENANT_ID": "t"}, "", "AZURE_CLIENT_CERTIFICATE_PATH"},
		{"user-assigned managed identity", map[string]string{"AZURE_CLIENT_ID": "c"}, "managed identity", ""},
		{"system-assigned managed identity", map[string]string{}, "managed identity", ""},
		{"workload identity wins over a secret", map[string]string{"AZURE_FEDERATED_TOKEN_FILE": "/f", "AZURE_CLIENT_SECRET": "s", "AZURE_CLIENT_ID": "c", "AZURE_TENANT_ID": "t"}, "workload identity", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cred, id, err := redisauth.NewEntraCredential(func(k string) string { return c.vars[k] })
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("%v, want an error naming %s", err, c.wantErr)
				}
				return
			}
			if err != nil || cred == nil {
				t.Fatalf("%v", err)
			}
			if id.Kind != c.wantKind || id.ClientID != c.vars["AZURE_CLIENT_ID"] {
				t.Errorf("identity %+v, want %s with client id %q", id, c.wantKind, c.vars["AZURE_CLIENT_ID"])
			}
		})
	}
}

// TestEntraUsernameIsTheObjectIDUnlessSet: Azure's Redis user is the
// identity's object id, read from the token; a configured user wins; a
// token without one is an error that says what to set.
func TestEntraUsernameIsTheObjectIDUnlessSet(t *testing.T) {
	t.Parallel()
	cases := []struct {
		token, username, wantUser, wantErr string
	}{
		{token: authtest.JWT("the-oid", 1), wantUser: "the-oid"},
		{token: authtest.JWT("the-oid", 1), username: "configured", wantUser: "configured"},
		{token: "opaque", wantErr: "OAUTH_CALLBACK_REDIS_USERNAME"},
		{token: "a.e30.b", wantErr: "no oid claim"}, // {} as claims
		{token: "opaque", username: "configured", wantUser: "configured"},
	}
	for _, c := range cases {
		p := redisauth.NewProvider(redisauth.NewEntra(staticToken(c.token), redisauth.EntraIdentity{}, c.username), redisauth.Options{})
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
