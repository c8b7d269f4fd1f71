package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAppsAcrossReplicas: two MCP servers share three replicas on one
// Redis behind compose's nginx, configured by an apps file as an operator
// mounts it (one token as its digest). A state one app registered exists
// for no other on any replica; one app flooding registrations up to its
// share of the budget leaves the other signing in.
func TestAppsAcrossReplicas(t *testing.T) {
	const mailToken, filesToken = "mail-token-e2e-0123456789", "files-token-e2e-0123456789"
	digest := sha256.Sum256([]byte(mailToken))
	file := filepath.Join(t.TempDir(), "apps.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(`apps:
  mail:
    tokens: ["sha256:%s"]
  files:
    tokens: [%q]
`, hex.EncodeToString(digest[:]), filesToken)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProxied(t, 3, "OAUTH_CALLBACK_APPS_FILE="+file, "OAUTH_CALLBACK_MAX_MEMORY=1MiB")
	mcp, browser := clientFrom("127.0.0.7"), clientFrom("127.0.2.1")
	as := func(token string) []string { return []string{"Authorization", "Bearer " + token} }
	send := func(method, path string, body string, header ...string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, p.url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := mcp.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	t.Run("a state one app registered exists for no other, on any replica", func(t *testing.T) {
		if code, body := send(http.MethodPut, "/api/callback/mail-state-0123456789", "", as(mailToken)...); code != http.StatusCreated {
			t.Fatalf("mail registers: %d %s", code, body)
		}
		if code, _, _ := get(t, browser, p.url+"/callback?code=mail-code&state=mail-state-0123456789"); code != http.StatusOK {
			t.Fatalf("callback: %d", code)
		}
		for range 3 { // nginx round-robins: each replica answers once
			if code, body := send(http.MethodGet, "/api/callback/mail-state-0123456789", "", as(filesToken)...); code != http.StatusNotFound {
				t.Fatalf("files takes mail's state: %d %s, want 404", code, body)
			}
			if code, body := send(http.MethodGet, "/api/status/mail-state-0123456789", "", as(filesToken)...); code != http.StatusOK || !strings.Contains(body, `"status":"unknown"`) {
				t.Fatalf("files reads mail's status: %d %s, want unknown", code, body)
			}
			if code, body := send(http.MethodDelete, "/api/callback/mail-state-0123456789", "", as(filesToken)...); code != http.StatusNotFound {
				t.Fatalf("files cancels mail's state: %d %s, want 404", code, body)
			}
		}
		if code, body := send(http.MethodGet, "/api/callback/mail-state-0123456789", "", as(mailToken)...); code != http.StatusOK || !strings.Contains(body, `"auth_code":"mail-code"`) {
			t.Fatalf("mail takes its state: %d %s", code, body)
		}
	})

	t.Run("one app's flood of registrations leaves the other signing in", func(t *testing.T) {
		metadata := `{"metadata":{"pad":"` + strings.Repeat("m", 3<<10) + `"}}`
		refused := 0
		for i := 0; i < 400 && refused == 0; i++ { // half of a fifth of 1 MiB: some 35 registrations of 3 KiB
			code, body := send(http.MethodPut, fmt.Sprintf("/api/callback/mail-flood-%d-0123456789", i), metadata, as(mailToken)...)
			switch code {
			case http.StatusCreated:
			case http.StatusServiceUnavailable:
				refused = i
			default:
				t.Fatalf("mail's registration %d: %d %s", i, code, body)
			}
		}
		if refused == 0 {
			t.Fatal("mail's registrations were never refused")
		}
		for i := range 3 {
			state := fmt.Sprintf("files-state-%d-0123456789", i)
			if code, body := send(http.MethodPut, "/api/callback/"+state, metadata, as(filesToken)...); code != http.StatusCreated {
				t.Fatalf("files registers after mail's flood (%d registrations): %d %s", refused, code, body)
			}
			if code, _, _ := get(t, browser, p.url+"/callback?code=files-code&state="+state); code != http.StatusOK {
				t.Fatalf("files' callback: %d", code)
			}
			if code, body := send(http.MethodGet, "/api/callback/"+state, "", as(filesToken)...); code != http.StatusOK {
				t.Fatalf("files takes: %d %s", code, body)
			}
		}
		var counted float64
		for _, r := range p.metrics {
			counted += metricValue(t, r, `oauth_callback_api_requests_total{app="mail",code="503",route="/api/callback/{state}"}`)
		}
		if counted != 1 {
			t.Errorf("mail's refusals counted on the replicas' metrics listeners: %v, want 1", counted)
		}
	})
}
