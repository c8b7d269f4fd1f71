// Package entra signs the Redis store in with Microsoft Entra ID, as Azure
// Managed Redis and Azure Cache for Redis expect: an access token for
// https://redis.azure.com/.default is the password, the identity's object
// id the user name, and every live connection is authenticated again with
// a fresh token before the old one expires.
//
// The tokens come from the Azure SDK for Go (azidentity): workload identity
// on AKS, a service principal, or a managed identity, chosen from the
// standard AZURE_* variables (NewCredential). Provider hands them to
// go-redis through its streaming credentials interface. Microsoft's
// github.com/redis/go-redis-entraid does the same, but the module proxy
// this project builds from does not serve it; this is the small part of it
// the service needs.
package entra

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Scope is what a token for Azure's Redis services is asked for.
const Scope = "https://redis.azure.com/.default"

// Identity says which identity the service signs in as, for logs and the
// check command: the kind of credential and the ids it was configured with.
type Identity struct {
	Kind     string // "workload identity", "service principal", "managed identity"
	ClientID string // empty: the system-assigned managed identity
	TenantID string
}

func (i Identity) String() string {
	s := i.Kind
	if i.ClientID != "" {
		s += ", client id " + i.ClientID
	}
	if i.TenantID != "" {
		s += ", tenant " + i.TenantID
	}
	return s
}

// NewCredential picks the credential the standard AZURE_* variables
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
func NewCredential(getenv func(string) string) (azcore.TokenCredential, Identity, error) {
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
		id := Identity{Kind: "workload identity", ClientID: clientID, TenantID: tenantID}
		if err := need(id.Kind); err != nil {
			return nil, id, err
		}
		cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: opts, ClientID: clientID, TenantID: tenantID,
			TokenFilePath: getenv("AZURE_FEDERATED_TOKEN_FILE"), DisableInstanceDiscovery: private,
		})
		return cred, id, err
	case getenv("AZURE_CLIENT_SECRET") != "":
		id := Identity{Kind: "service principal", ClientID: clientID, TenantID: tenantID}
		if err := need(id.Kind); err != nil {
			return nil, id, err
		}
		cred, err := azidentity.NewClientSecretCredential(tenantID, clientID, getenv("AZURE_CLIENT_SECRET"),
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: private})
		return cred, id, err
	case getenv("AZURE_CLIENT_CERTIFICATE_PATH") != "":
		id := Identity{Kind: "service principal", ClientID: clientID, TenantID: tenantID}
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
		id := Identity{Kind: "managed identity", ClientID: clientID}
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
