package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth-callback-server/oauth-callback-server/internal/httpapi"
)

// Microsoft Entra ID's admin consent sends the browser back with
// admin_consent=True, tenant and scope, and no code: it is stored and
// taken like any callback, the seed's fields as they are, kind
// admin_consent. Before, it was refused (400) and the MCP server waited
// until it timed out.
func TestAdminConsentIsStoredAndTaken(t *testing.T) {
	f := newFixture(t)
	tenant := "72f988bf-86f1-41af-91ab-2d7cd011db47"
	rec := f.get(t, "/callback?admin_consent=True&tenant="+tenant+"&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&state=consent-1")
	wantStatus(t, rec, http.StatusOK)
	if body := rec.Body.String(); !strings.Contains(body, "Consent recorded") || !strings.Contains(body, "consent for this application was recorded") {
		t.Errorf("page: %.400s", body)
	}
	m := decode(t, f.get(t, "/api/callback/consent-1"))
	params, _ := m["params"].(map[string]any)
	if m["status"] != "success" || m["auth_code"] != nil || m["error"] != nil || m["kind"] != "admin_consent" ||
		params["admin_consent"] != "True" || params["tenant"] != tenant || params["scope"] != "https://graph.microsoft.com/.default" {
		t.Fatalf("take: %v", m)
	}
}

func TestAnOrdinaryCallbackIsKindAuthorizationCode(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.get(t, "/callback?code=c&state=kind-1"), http.StatusOK)
	if m := decode(t, f.get(t, "/api/callback/kind-1")); m["kind"] != "authorization_code" {
		t.Fatalf("take: %v", m)
	}
}

// admin_consent that is not True, with neither code nor error, is no
// answer at all.
func TestAdminConsentNotGrantedWithoutAnErrorIsRefused(t *testing.T) {
	f := newFixture(t)
	for _, q := range []string{"admin_consent=False&tenant=t&state=nc-1", "admin_consent=&state=nc-2", "tenant=t&scope=s&state=nc-3"} {
		wantStatus(t, f.get(t, "/callback?"+q), http.StatusBadRequest)
	}
	if n := f.pending(t); n != 0 {
		t.Fatalf("%d stored", n)
	}
}

// An admin consent that failed is delivered as an error, as any error is,
// and its kind says where it came from.
func TestAdminConsentErrorIsDeliveredAsAnError(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.get(t, "/callback?admin_consent=True&error=access_denied&error_description=AADSTS65004%3A+User+declined&state=ce-1"), http.StatusOK)
	m := decode(t, f.get(t, "/api/callback/ce-1"))
	if m["error"] != "access_denied" || m["error_description"] != "AADSTS65004: User declined" || m["kind"] != "admin_consent" || m["auth_code"] != nil {
		t.Fatalf("take: %v", m)
	}
}

// Entra ID's Cancel button: access_denied with error_subcode=cancel. The
// page says the person cancelled, in fixed words; the subcode is in params.
func TestCancelAtTheProviderSaysSo(t *testing.T) {
	f := newFixture(t)
	rec := f.get(t, "/callback?error=access_denied&error_subcode=cancel&state=cx-1")
	wantStatus(t, rec, http.StatusOK)
	if body := rec.Body.String(); !strings.Contains(body, "Sign-in cancelled") || !strings.Contains(body, "You cancelled the sign-in") {
		t.Errorf("page: %.400s", body)
	}
	m := decode(t, f.get(t, "/api/callback/cx-1"))
	if params, _ := m["params"].(map[string]any); m["error"] != "access_denied" || params["error_subcode"] != "cancel" {
		t.Fatalf("take: %v", m)
	}
	// Entra may send it without a state: nothing to store, the same words.
	rec = f.get(t, "/callback?error=access_denied&error_subcode=cancel")
	wantStatus(t, rec, http.StatusBadRequest)
	if body := rec.Body.String(); !strings.Contains(body, "Sign-in cancelled") || !strings.Contains(body, "You cancelled the sign-in") {
		t.Errorf("page without state: %.400s", body)
	}
	// access_denied alone is not a cancel.
	if body := f.get(t, "/callback?error=access_denied&state=cx-2").Body.String(); strings.Contains(body, "You cancelled") {
		t.Errorf("access_denied without the subcode said cancelled")
	}
}

// RFC 9207, and the MCP revision of 2026-07-28: a client compares a present
// iss with the issuer it expects before redeeming the code. A registration
// that names its issuer has the service do it: a callback whose iss is
// another is refused with a fixed page, nothing stored, and the state
// still takes the real callback, whose take reports the checked issuer.
func TestACallbackFromAnotherIssuerIsRefused(t *testing.T) {
	f := newFixture(t)
	const issuer = "https://login.microsoftonline.com/tenant-a/v2.0"
	wantStatus(t, f.do(t, http.MethodPut, "/api/callback/iss-1", strings.NewReader(`{"issuer":"`+issuer+`"}`), "Content-Type", "application/json"), http.StatusCreated)
	rec := f.get(t, "/callback?code=attacker&state=iss-1&iss=https%3A%2F%2Fevil.example")
	wantStatus(t, rec, http.StatusBadRequest)
	if body := rec.Body.String(); !strings.Contains(body, "did not come from the sign-in provider your application expected") || strings.Contains(body, "evil.example") {
		t.Errorf("page: %.400s", body)
	}
	if n := f.pending(t); n != 0 {
		t.Fatalf("%d stored", n)
	}
	if !strings.Contains(f.logs.String(), "mix-up attack") {
		t.Errorf("no WARN line for the operator:\n%s", f.logs)
	}
	wantStatus(t, f.get(t, "/callback?code=real&state=iss-1&iss="+url.QueryEscape(issuer)), http.StatusOK)
	m := decode(t, f.get(t, "/api/callback/iss-1"))
	if m["auth_code"] != "real" || m["issuer"] != issuer || m["iss"] != issuer {
		t.Fatalf("take: %v", m)
	}
	// Without an issuer in the registration, the take says nothing of one.
	wantStatus(t, f.get(t, "/callback?code=c&state=iss-2&iss=https%3A%2F%2Fany.example"), http.StatusOK)
	if m := decode(t, f.get(t, "/api/callback/iss-2")); m["issuer"] != nil {
		t.Fatalf("take of an unregistered state: %v", m)
	}
}

func TestARegistrationsIssuerMustBeAnHTTPSURL(t *testing.T) {
	f := newFixture(t)
	for _, bad := range []string{"login.microsoftonline.com", "http://login.example.com/", "https://a.example/?x=1", "https://a.example/#f", "https://u@a.example/", strings.Repeat("https://a.example/", 40)} {
		rec := f.do(t, http.MethodPut, "/api/callback/bad-iss", strings.NewReader(`{"issuer":"`+bad+`"}`), "Content-Type", "application/json")
		wantStatus(t, rec, http.StatusBadRequest)
	}
	wantStatus(t, f.do(t, http.MethodPut, "/api/callback/ok-iss", strings.NewReader(`{"issuer":"http://127.0.0.1:9000"}`), "Content-Type", "application/json"), http.StatusCreated)
}

// HEAD /callback is how `oauth-callback-server check` knows the public URL
// reaches this service: a 204 with the probe header, nothing stored.
func TestHeadCallbackIsTheServicesProbe(t *testing.T) {
	f := newFixture(t)
	rec := f.do(t, http.MethodHead, "/callback?code=c&state=probe", nil)
	wantStatus(t, rec, http.StatusNoContent)
	if rec.Header().Get(httpapi.ProbeHeader) != "1" {
		t.Fatalf("headers: %v", rec.Header())
	}
	if n := f.pending(t); n != 0 {
		t.Fatalf("a HEAD stored %d callbacks", n)
	}
	if got := f.get(t, "/callback?code=c&state=probe2").Header().Get(httpapi.ProbeHeader); got != "" {
		t.Errorf("GET carries the probe header too: %q", got)
	}
}
