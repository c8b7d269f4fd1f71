package entra_test

import (
	"strings"
	"testing"

	"github.com/oauth-callback-server/oauth-callback-server/internal/entra"
)

// TestNewCredentialPicksOneKindFromTheVariables: the AZURE_* variables
// choose exactly one kind of credential, and a kind missing its ids is an
// error that names them.
func TestNewCredentialPicksOneKindFromTheVariables(t *testing.T) {
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
			cred, id, err := entra.NewCredential(func(k string) string { return c.vars[k] })
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
