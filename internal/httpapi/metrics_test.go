package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/httpapi"
)

func TestMetricsAfterAKnownSequence(t *testing.T) {
	f := newFixture(t, withLongPoll(time.Minute, 10), func(o *httpapi.Options) { o.ServeMetrics = true })
	waiting := f.async(t, "/api/callback/w?wait=30s")
	waitForMetric(t, f, "oauth_callback_waiters 1")
	f.get(t, "/callback?code=c&state=w")              // stored
	f.get(t, "/callback?code=c&state=a")              // stored
	f.get(t, "/callback?code=c&state=a")              // duplicate
	f.get(t, "/callback?code=c")                      // invalid
	f.get(t, "/callback?error=access_denied&state=e") // error callback
	wantStatus(t, await(t, waiting, 5*time.Second), http.StatusOK)
	f.get(t, "/api/callback/a") // 200
	f.get(t, "/api/callback/a") // 410
	f.get(t, "/api/callback/x") // 404

	rec := f.get(t, "/metrics")
	wantStatus(t, rec, http.StatusOK)
	body := rec.Body.String()
	for _, want := range []string{
		`oauth_callback_callbacks_received_total{outcome="stored"} 2`,
		`oauth_callback_callbacks_received_total{outcome="duplicate"} 1`,
		`oauth_callback_callbacks_received_total{outcome="invalid"} 1`,
		`oauth_callback_callbacks_received_total{outcome="error_callback"} 1`,
		`oauth_callback_takes_total{code="200"} 2`,
		`oauth_callback_takes_total{code="410"} 1`,
		`oauth_callback_takes_total{code="404"} 1`,
		`oauth_callback_waiters 0`,
		`oauth_callback_wake_latency_seconds_count 1`,
		`oauth_callback_store_operation_duration_seconds_count{operation="put"} 4`,
		`oauth_callback_http_requests_total{code="409",method="GET",route="/callback"} 1`,
		`oauth_callback_http_requests_total{code="200",method="GET",route="/api/callback/{state}"} 2`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestMetricsRouteOnlyWhenAsked(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.get(t, "/metrics"), http.StatusNotFound)
}

// The callbacks counter learns its outcomes from the table of outcomes:
// each is a series from the start, at 0, under the name the request log
// gives it; among them those the chart's alerts and dashboard read.
func TestEveryCallbackOutcomeIsASeriesFromTheStart(t *testing.T) {
	f := newFixture(t, func(o *httpapi.Options) { o.ServeMetrics = true })
	body := f.get(t, "/metrics").Body.String()
	outcomes := httpapi.CallbackOutcomes()
	for _, o := range outcomes {
		if want := `oauth_callback_callbacks_received_total{outcome="` + o + `"} 0`; !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, read := range []string{"stored", "error_callback", "invalid", "conflict", "store_full", "store_unavailable", "unbound", "rate_limited", "not_replicated", "internal_error"} {
		if !slices.Contains(outcomes, read) {
			t.Errorf("no outcome %q", read)
		}
	}
}

// TestAPIRequestsByApp: on the operator's metrics listener, the app label
// holds configured apps only; a request with a wrong token, or to
// /callback, adds none.
func TestAPIRequestsByApp(t *testing.T) {
	f := newFixture(t, func(o *httpapi.Options) {
		o.Apps = tokenApps(t, "mail="+goodToken, "files="+secondToken)
	})
	f.do(t, http.MethodPut, "/api/callback/m", nil, "Authorization", "Bearer "+goodToken)
	f.do(t, http.MethodGet, "/api/callback/m", nil, "Authorization", "Bearer "+secondToken)
	f.do(t, http.MethodGet, "/api/callback/m", nil, "Authorization", "Bearer not-an-app-0123456789")
	f.get(t, "/callback?code=c&state=m")
	rec := httptest.NewRecorder()
	f.metricsHandler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	series := grepLines(rec.Body.String(), "oauth_callback_api_requests_total{")
	want := []string{
		`oauth_callback_api_requests_total{app="files",code="404",route="/api/callback/{state}"} 1`,
		`oauth_callback_api_requests_total{app="mail",code="201",route="/api/callback/{state}"} 1`,
	}
	if !slices.Equal(series, want) {
		t.Errorf("series:\n%s\nwant:\n%s", strings.Join(series, "\n"), strings.Join(want, "\n"))
	}
}

// TestAnAppsTokenReadsNoOtherAppsSeries: /metrics on the main listener
// opens to any app's token, so it serves no series labelled app: mail's
// token reads neither files' counts nor its own there, only what counts
// every app together. The operator's metrics listener has them all.
func TestAnAppsTokenReadsNoOtherAppsSeries(t *testing.T) {
	f := newFixture(t, func(o *httpapi.Options) {
		o.ServeMetrics = true
		o.Apps = tokenApps(t, "mail="+goodToken, "files="+secondToken)
	})
	f.do(t, http.MethodPut, "/api/callback/f", nil, "Authorization", "Bearer "+secondToken)
	f.do(t, http.MethodGet, "/api/callback/f", nil, "Authorization", "Bearer "+secondToken)
	f.do(t, http.MethodGet, "/api/callback/m", nil, "Authorization", "Bearer "+goodToken)

	rec := f.do(t, http.MethodGet, "/metrics", nil, "Authorization", "Bearer "+goodToken)
	wantStatus(t, rec, http.StatusOK)
	body := rec.Body.String()
	if leaked := grepLines(body, `app="`); len(leaked) > 0 {
		t.Errorf("mail's token reads series by app on the main listener:\n%s", strings.Join(leaked, "\n"))
	}
	if want := `oauth_callback_http_requests_total{code="201",method="PUT",route="/api/callback/{state}"} 1`; !strings.Contains(body, want) {
		t.Errorf("the totals are gone from the main listener too: no %s", want)
	}

	rec = httptest.NewRecorder()
	f.metricsHandler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if want := `oauth_callback_api_requests_total{app="files",code="201",route="/api/callback/{state}"} 1`; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("the metrics listener lacks %s", want)
	}
}
