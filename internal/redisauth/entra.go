package redisauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// EntraScope is what a token for Azure's Redis services is asked for.
const EntraScope = "https://redis.azure.com/.default"

// EntraIdentity is the kind of Entra ID credential and the ids it was
// configured with.
type EntraIdentity struct {
	Kind     string // "workload identity", "service principal", "managed identity"
	ClientID string // empty: the system-assigned managed identity
	TenantID string
}

func (i EntraIdentity) String() string {
	s := i.Kind
	if i.ClientID != "" {
		s += ", client id " + i.ClientID
	}
	if i.TenantID != "" {
		s += ", tenant " + i.TenantID
	}
	return s
}

// Entra is the Source of Microsoft Entra ID tokens: an access token for
// EntraScope is the password, the identity's object id (the token's oid
// claim) the user unless one is configured.
type Entra struct {
	cred     azcore.TokenCredential
	identity EntraIdentity
	username string
}

// NewEntra is the Source of cred's tokens; username, when set, is the
// Redis user instead of the token's object id.
func NewEntra(cred azcore.TokenCredential, identity EntraIdentity, username string) *Entra {
	return &Entra{cred: cred, identity: identity, username: username}
}

// Identity implements Source.
func (e *Entra) Identity() Identity {
	return Identity{Cloud: "Microsoft Entra ID", Who: e.identity.String()}
}

// Token implements Source.
func (e *Entra) Token(ctx context.Context) (Token, error) {
	at, err := e.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{EntraScope}})
	if err != nil {
		return Token{}, err
	}
	user := e.username
	if user == "" {
		if user, err = objectID(at.Token); err != nil {
			return Token{}, fmt.Errorf("%w; set OAUTH_CALLBACK_REDIS_USERNAME to the Redis user", err)
		}
	}
	return Token{Username: user, Password: at.Token, ExpiresOn: at.ExpiresOn}, nil
}

// objectID reads the oid claim of an Entra ID access token (a JWT). The
// token is not verified here: it came from Entra ID over TLS, and Redis
// verifies it.
func objectID(jwt string) (string, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", errors.New("the Entra ID token is not a JWT, so it names no object id")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", fmt.Errorf("the Entra ID token's claims are not base64url: %w", err)
	}
	var claims struct {
		OID string `json:"oid"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", fmt.Errorf("the Entra ID token's claims are not JSON: %w", err)
	}
	if claims.OID == "" {
		return "", errors.New("the Entra ID token has no oid claim")
	}
	return claims.OID, nil
}

// NewEntraCredential picks the credential the standard AZURE_* variables
// describe, read through getenv, in this order:
//   - AZURE_FEDERATED_TOKEN_FILE (set by AKS's workload identity webhook,
//     with AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_AUTHORITY_HOST):
//     workload identity;
//   - AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH (with
//     AZURE_TENANT_ID and AZURE_CLIENT_ID): a service principal;
//   - otherwise the managed identity of the machine, user-assigned when
//     AZURE_CLIENT_ID is set.
//
// One credential, not azidentity's DefaultAzureCredential chain: a chain
// that tries the next kind when one fails (the Azure CLI, a developer's
// login) hides the failure an operator needs to see, and signs in as
// someone else.
func NewEntraCredential(getenv func(string) string) (azcore.TokenCredential, EntraIdentity, error) {
	clientID, tenantID := getenv("AZURE_CLIENT_ID"), getenv("AZURE_TENANT_ID")
	opts := azcore.ClientOptions{}
	host := getenv("AZURE_AUTHORITY_HOST")
	if host != "" {
		c := cloud.AzurePublic
		c.ActiveDirectoryAuthorityHost = host
		opts.Cloud = c
	}
	// Instance discovery asks login.microsoftonline.com about the
	// authority; for an authority of no Microsoft cloud (Azure Stack, a
	// private or disconnected cloud) it cannot answer, so it is skipped.
	private := host != "" && !microsoftCloud(host)
	need := func(kind string) error {
		var missing []string
		if clientID == "" {
			missing = append(missing, "AZURE_CLIENT_ID")
		}
		if tenantID == "" {
			missing = append(missing, "AZURE_TENANT_ID")
		}
		if len(missing) > 0 {
			return fmt.Errorf("%s for Microsoft Entra ID needs %s", kind, strings.Join(missing, " and "))
		}
		return nil
	}
	switch {
	case getenv("AZURE_FEDERATED_TOKEN_FILE") != "":
		id := EntraIdentity{Kind: "workload identity", ClientID: clientID, TenantID: tenantID}
		if err := need(id.Kind); err != nil {
			return nil, id, err
		}
		cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: opts, ClientID: clientID, TenantID: tenantID,
			TokenFilePath: getenv("AZURE_FEDERATED_TOKEN_FILE"), DisableInstanceDiscovery: private,
		})
		return cred, id, err
	case getenv("AZURE_CLIENT_SECRET") != "":
		id := EntraIdentity{Kind: "service principal", ClientID: clientID, TenantID: tenantID}
		if err := need(id.Kind); err != nil {
			return nil, id, err
		}
		cred, err := azidentity.NewClientSecretCredential(tenantID, clientID, getenv("AZURE_CLIENT_SECRET"),
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: private})
		return cred, id, err
	case getenv("AZURE_CLIENT_CERTIFICATE_PATH") != "":
		id := EntraIdentity{Kind: "service principal", ClientID: clientID, TenantID: tenantID}
		if err := need(id.Kind); err != nil {
			return nil, id, err
		}
		pem, err := os.ReadFile(getenv("AZURE_CLIENT_CERTIFICATE_PATH"))
		if err != nil {
			return nil, id, fmt.Errorf("read AZURE_CLIENT_CERTIFICATE_PATH: %w", err)
		}
		var password []byte
		if p := getenv("AZURE_CLIENT_CERTIFICATE_PASSWORD"); p != "" {
			password = []byte(p)
		}
		certs, key, err := azidentity.ParseCertificates(pem, password)
		if err != nil {
			return nil, id, fmt.Errorf("AZURE_CLIENT_CERTIFICATE_PATH: %w", err)
		}
		cred, err := azidentity.NewClientCertificateCredential(tenantID, clientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: private})
		return cred, id, err
	default:
		id := EntraIdentity{Kind: "managed identity", ClientID: clientID}
		mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
		if clientID != "" {
			mo.ID = azidentity.ClientID(clientID)
		}
		cred, err := azidentity.NewManagedIdentityCredential(mo)
		if err != nil {
			return nil, id, errors.Join(errors.New("no AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH, and no managed identity"), err)
		}
		return cred, id, nil
	}
}

// microsoftCloud reports whether an authority host is one of Microsoft's
// clouds (public, US Government, China), which instance discovery knows.
func microsoftCloud(host string) bool {
	u, err := url.Parse(host)
	if err != nil {
		return false
	}
	for _, c := range []cloud.Configuration{cloud.AzurePublic, cloud.AzureGovernment, cloud.AzureChina} {
		if k, err := url.Parse(c.ActiveDirectoryAuthorityHost); err == nil && strings.EqualFold(k.Host, u.Host) {
			return true
		}
	}
	return false
}

var _ Source = (*Entra)(nil)
