package deploytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testnet"
)

// The chart's alerts and dashboard are held to the binary: every
// expression parses with Prometheus's own PromQL parser, and names only
// metrics and labels that the running service really exposes after a few
// sign-ins (scraped from its /metrics), or that Prometheus adds itself.

// exposition is what the binary exposes: each metric name (histograms
// with their _bucket, _sum and _count series) and its label names.
type exposition map[string][]string

func scrapeRunningService(t *testing.T) exposition {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "oauth-callback-server")
	build := exec.Command("go", "build", "-o", bin, "./cmd/oauth-callback-server")
	build.Dir = repoRoot(t)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	l := testnet.Listen(t)
	cmd := exec.Command(bin)
	sock := testnet.File(t, l)
	defer sock.Close()
	cmd.ExtraFiles = []*os.File{sock}       // the test holds the port (socket activation)
	const token = "scrape-token-0123456789" // of an app, so that the app label is exposed
	// Scraped where the chart scrapes, on the metrics listener
	// (metrics.port): the main listener leaves out the series by app.
	metricsPort := testnet.ReservePort(t)
	metricsBase := fmt.Sprintf("http://127.0.0.1:%d", metricsPort)
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "OAUTH_CALLBACK_DRAIN_DELAY=0", "OAUTH_CALLBACK_LOG_LEVEL=error", "OAUTH_CALLBACK_MAX_WAIT=5s",
		"OAUTH_CALLBACK_API_TOKENS=mail="+token, fmt.Sprintf("OAUTH_CALLBACK_METRICS_ADDR=127.0.0.1:%d", metricsPort))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	base := testnet.URL(l)
	get := func(path string, header ...string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	testnet.WaitReady(t, base, 20*time.Second)
	deadline := time.Now().Add(20 * time.Second)

	// A few sign-ins: stored and taken, one woken from a long-poll, one
	// conflicted, one never stored.
	for i := range 3 {
		get(fmt.Sprintf("/callback?code=c&state=signin-%d", i))
		get(fmt.Sprintf("/api/callback/signin-%d", i))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		get("/api/callback/woken", "Prefer", "wait=5")
	}()
	// The callback goes once the long-poll is held, so that a wake-up,
	// and its latency, is recorded.
	for held := false; !held; {
		resp, err := scrape(metricsBase)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		held = strings.Contains(string(body), "\noauth_callback_waiters 1\n")
		if !held && time.Now().After(deadline) {
			t.Fatal("the long-poll was never held")
		}
	}
	get("/callback?code=c&state=woken")
	<-done
	get("/callback?code=a&state=conflicted")
	get("/callback?code=b&state=conflicted")
	get("/api/callback/never")

	resp, err := scrape(metricsBase)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	textParser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := textParser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	exp := exposition{}
	for name, f := range families {
		labels := map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = true
			}
		}
		names := []string{name}
		if f.GetType().String() == "HISTOGRAM" {
			names = []string{name + "_bucket", name + "_sum", name + "_count"}
		}
		for _, n := range names {
			for l := range labels {
				exp[n] = append(exp[n], l)
			}
			if strings.HasSuffix(n, "_bucket") {
				exp[n] = append(exp[n], "le")
			}
			if exp[n] == nil {
				exp[n] = []string{}
			}
		}
	}
	return exp
}

func scrape(base string) (*http.Response, error) {
	return http.Get(base + "/metrics")
}

// Prometheus adds these to every scraped series, and up itself.
var targetLabels = []string{"job", "instance", "namespace", "pod", "service", "container", "endpoint"}

// checkExpr parses expr and checks what it names against exp.
func checkExpr(t *testing.T, where, expr string, exp exposition) {
	t.Helper()
	parsed, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: PromQL does not parse: %v\n%s", where, err, expr)
		return
	}
	var used []string
	parser.Inspect(parsed, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		labels, known := exp[vs.Name]
		if vs.Name == "up" {
			labels, known = nil, true
		}
		if !known {
			t.Errorf("%s: metric %q is not exposed by the binary", where, vs.Name)
			return nil
		}
		used = append(used, labels...)
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel || slices.Contains(targetLabels, m.Name) {
				continue
			}
			if !slices.Contains(labels, m.Name) {
				t.Errorf("%s: %s has no label %q (it has %v)", where, vs.Name, m.Name, labels)
			}
		}
		return nil
	})
	parser.Inspect(parsed, func(node parser.Node, _ []parser.Node) error {
		if agg, ok := node.(*parser.AggregateExpr); ok {
			for _, g := range agg.Grouping {
				if !slices.Contains(used, g) && !slices.Contains(targetLabels, g) {
					t.Errorf("%s: groups by %q, which none of its metrics has", where, g)
				}
			}
		}
		return nil
	})
}

func TestAlertsAndDashboardNameWhatTheBinaryExposes(t *testing.T) {
	exp := scrapeRunningService(t)

	r := mustRender(t, "--set", "prometheusRule.enabled=true", "--set", "grafanaDashboard.enabled=true")
	if len(r.prometheusRules) != 1 {
		t.Fatalf("PrometheusRules: %d, want 1", len(r.prometheusRules))
	}
	wantAlerts := []string{"OAuthCallbackStoreUnavailable", "OAuthCallbackConflictingCallbacks", "OAuthCallbackStoreFull",
		"OAuthCallbackNoReplicaUp", "OAuthCallbackWakeLatencyHigh", "OAuthCallbackCallbacksNotTaken"}
	operations, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range r.prometheusRules[0].Spec.Groups {
		for _, rule := range g.Rules {
			got = append(got, rule.Alert)
			checkExpr(t, "alert "+rule.Alert, rule.Expr.String(), exp)
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if rule.Annotations[a] == "" {
					t.Errorf("alert %s has no %s", rule.Alert, a)
				}
			}
			anchor := rule.Annotations["runbook_url"][strings.LastIndex(rule.Annotations["runbook_url"], "#")+1:]
			if !regexp.MustCompile(`(?m)^#+ .*\{#` + regexp.QuoteMeta(anchor) + `\}|(?mi)^#+ ` + strings.ReplaceAll(regexp.QuoteMeta(anchor), "-", "[ -]") + `\s*$`).Match(operations) {
				t.Errorf("alert %s: docs/operations.md has no section #%s", rule.Alert, anchor)
			}
		}
	}
	if !slices.Equal(got, wantAlerts) {
		t.Errorf("alerts %v, want %v", got, wantAlerts)
	}

	cm := r.configMaps["rel-oauth-callback-server-dashboard"]
	if cm == nil || cm.Labels["grafana_dashboard"] != "1" {
		t.Fatalf("dashboard ConfigMap with the sidecar's label: %+v", cm)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct{ Name, Query string }
		}
	}
	if err := json.Unmarshal([]byte(cm.Data["oauth-callback-server.json"]), &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	var titles []string
	for _, p := range dash.Panels {
		titles = append(titles, p.Title)
		for _, target := range p.Targets {
			checkExpr(t, "panel "+p.Title, target.Expr, exp)
		}
	}
	// A variable's query is label_values(<selector>, <label>): the
	// selector is PromQL, and the label one of its metric's.
	labelValues := regexp.MustCompile(`^label_values\((.+), *(\w+)\)$`)
	for _, v := range dash.Templating.List {
		if v.Name == "datasource" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Query)
		if m == nil {
			t.Errorf("variable %s: query %q is no label_values(selector, label)", v.Name, v.Query)
			continue
		}
		checkExpr(t, "variable "+v.Name, fmt.Sprintf("count by (%s) (%s)", m[2], m[1]), exp)
	}
	for _, want := range []string{"Callbacks by outcome", "Takes by status code", "Long-polls waiting", "Wake latency",
		"Store latency p99 by operation", "5xx answers by route", "API requests by app", "Refused for an app"} {
		if !slices.Contains(titles, want) {
			t.Errorf("dashboard lacks the panel %q (has %v)", want, titles)
		}
	}
	if none := mustRender(t); len(none.prometheusRules) != 0 || none.configMaps["rel-oauth-callback-server-dashboard"] != nil {
		t.Error("alerts or dashboard rendered by default")
	}
}
