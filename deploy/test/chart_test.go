package deploytest

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/oauth-callback-server/oauth-callback-server/internal/apps"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/memlimit"
)

// kubeVersion is what helm template renders for: the oldest the chart
// supports is 1.30 (native preStop sleep).
const kubeVersion = "1.31.0"

// rendered is one helm template output, every object decoded strictly into
// its Kubernetes API type: a field the API does not know fails the test.
type rendered struct {
	deployments     map[string]*appsv1.Deployment
	services        map[string]*corev1.Service
	secrets         map[string]*corev1.Secret
	configMaps      map[string]*corev1.ConfigMap
	serviceAccounts map[string]*corev1.ServiceAccount
	pods            map[string]*corev1.Pod
	pdbs            []*policyv1.PodDisruptionBudget
	hpas            []*autoscalingv2.HorizontalPodAutoscaler
	ingresses       []*networkingv1.Ingress
	netpols         []*networkingv1.NetworkPolicy
	serviceMonitors []*monitoringv1.ServiceMonitor
	prometheusRules []*monitoringv1.PrometheusRule
}

func chartDir(t *testing.T) string {
	return filepath.Join(repoRoot(t), "charts", "oauth-callback-server")
}

func render(t *testing.T, args ...string) (*rendered, error) {
	t.Helper()
	out, err := helm(t, append([]string{"template", "rel", chartDir(t), "--namespace", "test", "--kube-version", kubeVersion}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, out)
	}
	r := &rendered{
		deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		secrets: map[string]*corev1.Secret{}, configMaps: map[string]*corev1.ConfigMap{},
		serviceAccounts: map[string]*corev1.ServiceAccount{}, pods: map[string]*corev1.Pod{},
	}
	for _, doc := range strings.Split(out, "\n---") {
		doc = strings.TrimSpace(doc)
		if doc == "" || strings.Trim(doc, "-\n ") == "" {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("not YAML: %v\n%s", err, doc)
		}
		if head.Kind == "" {
			continue // a document of comments only
		}
		strict := func(v any) {
			t.Helper()
			if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
				t.Fatalf("%s does not decode strictly into %T: %v\n%s", head.Kind, v, err, doc)
			}
		}
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 Deployment":
			var o appsv1.Deployment
			strict(&o)
			r.deployments[o.Name] = &o
		case "v1 Service":
			var o corev1.Service
			strict(&o)
			r.services[o.Name] = &o
		case "v1 Secret":
			var o corev1.Secret
			strict(&o)
			r.secrets[o.Name] = &o
		case "v1 ConfigMap":
			var o corev1.ConfigMap
			strict(&o)
			r.configMaps[o.Name] = &o
		case "v1 ServiceAccount":
			var o corev1.ServiceAccount
			strict(&o)
			r.serviceAccounts[o.Name] = &o
		case "v1 Pod":
			var o corev1.Pod
			strict(&o)
			r.pods[o.Name] = &o
		case "policy/v1 PodDisruptionBudget":
			var o policyv1.PodDisruptionBudget
			strict(&o)
			r.pdbs = append(r.pdbs, &o)
		case "autoscaling/v2 HorizontalPodAutoscaler":
			var o autoscalingv2.HorizontalPodAutoscaler
			strict(&o)
			r.hpas = append(r.hpas, &o)
		case "networking.k8s.io/v1 Ingress":
			var o networkingv1.Ingress
			strict(&o)
			r.ingresses = append(r.ingresses, &o)
		case "networking.k8s.io/v1 NetworkPolicy":
			var o networkingv1.NetworkPolicy
			strict(&o)
			r.netpols = append(r.netpols, &o)
		case "monitoring.coreos.com/v1 ServiceMonitor":
			var o monitoringv1.ServiceMonitor
			strict(&o)
			r.serviceMonitors = append(r.serviceMonitors, &o)
		case "monitoring.coreos.com/v1 PrometheusRule":
			var o monitoringv1.PrometheusRule
			strict(&o)
			r.prometheusRules = append(r.prometheusRules, &o)
		default:
			t.Fatalf("unexpected object %s %s", head.APIVersion, head.Kind)
		}
	}
	return r, nil
}

func mustRender(t *testing.T, args ...string) *rendered {
	t.Helper()
	r, err := render(t, args...)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	return r
}

// app is the service's Deployment and container.
func (r *rendered) app(t *testing.T) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	d := r.deployments["rel-oauth-callback-server"]
	if d == nil {
		t.Fatalf("no Deployment rel-oauth-callback-server; have %v", keys(r.deployments))
	}
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("containers: %d", len(d.Spec.Template.Spec.Containers))
	}
	return d, d.Spec.Template.Spec.Containers[0]
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func env(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func TestChartLintsStrictly(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(chartDir(t), "ci", "*-values.yaml"))
	if len(files) < 5 {
		t.Fatalf("ci values files: %v", files)
	}
	for _, f := range append([]string{""}, files...) {
		args := []string{"lint", "--strict", chartDir(t), "--kube-version", kubeVersion}
		if f != "" {
			args = append(args, "-f", f)
		}
		if out, err := helm(t, args...); err != nil {
			t.Errorf("helm lint --strict %s: %v\n%s", filepath.Base(f), err, out)
		}
	}
}

func TestEveryCIScenarioRendersValidObjects(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(chartDir(t), "ci", "*-values.yaml"))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := mustRender(t, "-f", f)
			d, c := r.app(t)
			assertHardened(t, d, c)
			assertProbesAndDrain(t, d, c)
			replicas := int32(0)
			if d.Spec.Replicas != nil {
				replicas = *d.Spec.Replicas
			}
			if len(r.hpas) > 0 {
				replicas = *r.hpas[0].Spec.MinReplicas
			}
			if (replicas > 1) != (len(r.pdbs) == 1) {
				t.Errorf("%d replicas and %d PodDisruptionBudgets: want one iff replicas > 1", replicas, len(r.pdbs))
			}
			if replicas > 1 && env(c, "OAUTH_CALLBACK_REDIS_URL") == nil &&
				env(c, "OAUTH_CALLBACK_REDIS_SENTINEL_ADDRS") == nil && env(c, "OAUTH_CALLBACK_REDIS_CLUSTER_ADDRS") == nil {
				t.Errorf("%d replicas without a Redis URL, sentinels or cluster", replicas)
			}
			if p := r.pods["rel-oauth-callback-server-test-connection"]; p == nil || p.Annotations["helm.sh/hook"] != "test" {
				t.Errorf("no helm test pod")
			}
		})
	}
}

func assertHardened(t *testing.T, d *appsv1.Deployment, c corev1.Container) {
	t.Helper()
	ps := d.Spec.Template.Spec.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser != 65532 ||
		ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext: %+v", ps)
	}
	cs := c.SecurityContext
	if cs == nil || cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem ||
		cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation ||
		cs.Capabilities == nil || len(cs.Capabilities.Drop) != 1 || cs.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container securityContext: %+v", cs)
	}
	if a := d.Spec.Template.Spec.AutomountServiceAccountToken; a == nil || *a {
		t.Error("automountServiceAccountToken is not false")
	}
	if len(d.Spec.Template.Spec.TopologySpreadConstraints) == 0 {
		t.Error("no topologySpreadConstraints")
	}
}

func assertProbesAndDrain(t *testing.T, d *appsv1.Deployment, c corev1.Container) {
	t.Helper()
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe: %+v", c.LivenessProbe)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe: %+v", c.ReadinessProbe)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatalf("no preStop sleep: %+v", c.Lifecycle)
	}
	sleep := c.Lifecycle.PreStop.Sleep.Seconds
	grace := *d.Spec.Template.Spec.TerminationGracePeriodSeconds
	if grace <= sleep+2+10 {
		t.Errorf("terminationGracePeriodSeconds %d not longer than preStop %d + drain 2 + shutdown 10", grace, sleep)
	}
	if d.Spec.Template.Annotations["checksum/config"] == "" || d.Spec.Template.Annotations["checksum/secret"] == "" {
		t.Errorf("no checksum annotations: %v", d.Spec.Template.Annotations)
	}
}

func TestDefaultsAreTwoReplicasOnBundledRedis(t *testing.T) {
	r := mustRender(t)
	d, c := r.app(t)
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas: %d, want 2", *d.Spec.Replicas)
	}
	url := env(c, "OAUTH_CALLBACK_REDIS_URL")
	if url == nil || url.Value != "redis://rel-oauth-callback-server-redis:6379/0" {
		t.Errorf("OAUTH_CALLBACK_REDIS_URL: %+v", url)
	}
	pw := env(c, "OAUTH_CALLBACK_REDIS_PASSWORD")
	if pw == nil || pw.ValueFrom == nil || pw.ValueFrom.SecretKeyRef == nil || pw.ValueFrom.SecretKeyRef.Name != "rel-oauth-callback-server-redis" {
		t.Fatalf("OAUTH_CALLBACK_REDIS_PASSWORD: %+v", pw)
	}
	secret := r.secrets["rel-oauth-callback-server-redis"]
	if secret == nil || len(secret.Data[pw.ValueFrom.SecretKeyRef.Key]) < 32 {
		t.Fatalf("generated password Secret: %+v", secret)
	}
	redis := r.deployments["rel-oauth-callback-server-redis"]
	if redis == nil {
		t.Fatal("no bundled Redis Deployment")
	}
	rc := redis.Spec.Template.Spec.Containers[0]
	if !strings.HasPrefix(rc.Image, "redis:") || !strings.Contains(strings.Join(rc.Args, " "), "--requirepass $(REDIS_PASSWORD)") {
		t.Errorf("bundled Redis: image %s args %v", rc.Image, rc.Args)
	}
	if r.services["rel-oauth-callback-server-redis"] == nil {
		t.Error("no Redis Service")
	}
	if len(r.pdbs) != 1 || r.pdbs[0].Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget: %+v", r.pdbs)
	}
	if len(r.ingresses)+len(r.netpols)+len(r.hpas)+len(r.serviceMonitors) != 0 {
		t.Error("optional objects rendered by default")
	}
}

func TestExternalRedisFromSecrets(t *testing.T) {
	r := mustRender(t, "-f", filepath.Join(chartDir(t), "ci", "external-redis-values.yaml"))
	_, c := r.app(t)
	url, pw := env(c, "OAUTH_CALLBACK_REDIS_URL"), env(c, "OAUTH_CALLBACK_REDIS_PASSWORD")
	if url == nil || url.ValueFrom.SecretKeyRef.Name != "my-redis" || url.ValueFrom.SecretKeyRef.Key != "url" {
		t.Errorf("URL: %+v", url)
	}
	if pw == nil || pw.ValueFrom.SecretKeyRef.Name != "my-redis" || pw.ValueFrom.SecretKeyRef.Key != "password" {
		t.Errorf("password: %+v", pw)
	}
	if r.deployments["rel-oauth-callback-server-redis"] != nil {
		t.Error("bundled Redis rendered with an external one")
	}
}

// TestAzureManagedRedisWithWorkloadIdentity: the pods (the check pod too)
// carry the label AKS's webhook looks for and run as the ServiceAccount
// that names the identity; the service signs in with Entra ID and is given
// no Redis password at all.
func TestAzureManagedRedisWithWorkloadIdentity(t *testing.T) {
	r := mustRender(t, "-f", filepath.Join(chartDir(t), "ci", "azure-managed-redis-values.yaml"), "--set", "azureWorkloadIdentity.tenantId=contoso")
	d, c := r.app(t)
	check := r.pods["rel-oauth-callback-server-check"]
	for name, labels := range map[string]map[string]string{"service": d.Spec.Template.Labels, "check": check.Labels} {
		if labels["azure.workload.identity/use"] != "true" {
			t.Errorf("the %s pod lacks azure.workload.identity/use=true: %v", name, labels)
		}
	}
	sa := r.serviceAccounts["rel-oauth-callback-server"]
	if sa == nil || sa.Annotations["azure.workload.identity/client-id"] != "0d6f3b1e-7c9a-4e2b-8f51-3a9c2d7e6b10" || sa.Annotations["azure.workload.identity/tenant-id"] != "contoso" {
		t.Fatalf("ServiceAccount: %+v", sa)
	}
	for name, account := range map[string]string{"service": d.Spec.Template.Spec.ServiceAccountName, "check": check.Spec.ServiceAccountName} {
		if account != sa.Name {
			t.Errorf("the %s pod runs as %q, not the annotated %q", name, account, sa.Name)
		}
	}
	if e := env(c, "OAUTH_CALLBACK_REDIS_AUTH"); e == nil || e.Value != "entra" {
		t.Errorf("OAUTH_CALLBACK_REDIS_AUTH: %+v", e)
	}
	for _, name := range []string{"OAUTH_CALLBACK_REDIS_PASSWORD", "OAUTH_CALLBACK_REDIS_PASSWORD_FILE"} {
		if e := env(c, name); e != nil {
			t.Errorf("%s is set with Entra ID: %+v", name, e)
		}
	}
	if r.deployments["rel-oauth-callback-server-redis"] != nil || len(r.secrets) > 1 {
		t.Errorf("a bundled Redis or a password Secret was rendered: %v", keys(r.secrets))
	}
	// Off by default: no label, no annotation.
	d, _ = mustRender(t).app(t)
	if _, on := d.Spec.Template.Labels["azure.workload.identity/use"]; on {
		t.Error("workload identity label without azureWorkloadIdentity.enabled")
	}
}

// TestElastiCacheWithIRSA: the ServiceAccount names the IAM role (EKS's
// webhook then gives the pods, the check pod too, its web-identity token);
// the service signs in with AWS IAM tokens for the named cache and user,
// over TLS, and is given no Redis password at all.
func TestElastiCacheWithIRSA(t *testing.T) {
	r := mustRender(t, "-f", filepath.Join(chartDir(t), "ci", "elasticache-values.yaml"))
	_, c := r.app(t)
	check := r.pods["rel-oauth-callback-server-check"]
	sa := r.serviceAccounts["rel-oauth-callback-server"]
	if sa == nil || sa.Annotations["eks.amazonaws.com/role-arn"] != "arn:aws:iam::123456789012:role/oauth-callback-server" {
		t.Fatalf("ServiceAccount: %+v", sa)
	}
	assertSignsInAs(t, r, sa.Name, "aws")
	for name, ctr := range map[string]corev1.Container{"service": c, "check": check.Spec.Containers[0]} {
		for variable, want := range map[string]string{
			"OAUTH_CALLBACK_REDIS_URL":            "",
			"OAUTH_CALLBACK_REDIS_USERNAME":       "oauth-callback-server",
			"OAUTH_CALLBACK_REDIS_AWS_SERVICE":    "elasticache",
			"OAUTH_CALLBACK_REDIS_AWS_CACHE_NAME": "oauth-callbacks",
			"AWS_REGION":                          "eu-west-1",
			// Without IRSA or Pod Identity the SDK would fall through to
			// IMDS and sign in as the node's instance role.
			"AWS_EC2_METADATA_DISABLED": "true",
		} {
			e := env(ctr, variable)
			if e == nil || (want != "" && e.Value != want) {
				t.Errorf("the %s pod's %s: %+v, want %q", name, variable, e, want)
			}
		}
	}
	// EKS Pod Identity: no role ARN, no annotation, and the pods still
	// sign in with AWS IAM (the association names the ServiceAccount).
	r = mustRender(t, "-f", filepath.Join(chartDir(t), "ci", "elasticache-values.yaml"), "--set", "awsIRSA.roleArn=")
	if sa := r.serviceAccounts["rel-oauth-callback-server"]; len(sa.Annotations) != 0 {
		t.Errorf("annotations without awsIRSA.roleArn: %v", sa.Annotations)
	}
	if _, c := r.app(t); env(c, "OAUTH_CALLBACK_REDIS_AUTH") == nil {
		t.Error("no OAUTH_CALLBACK_REDIS_AUTH with EKS Pod Identity")
	} else if e := env(c, "AWS_EC2_METADATA_DISABLED"); e == nil || e.Value != "true" {
		t.Errorf("AWS_EC2_METADATA_DISABLED with EKS Pod Identity: %+v, want true", e)
	}
}

// TestMemorystoreWithGKEWorkloadIdentity: the ServiceAccount names the
// Google service account the GKE metadata server hands tokens for; the
// service signs in with them over TLS to the cluster, and is given no
// Redis password at all.
func TestMemorystoreWithGKEWorkloadIdentity(t *testing.T) {
	r := mustRender(t, "-f", filepath.Join(chartDir(t), "ci", "memorystore-values.yaml"))
	_, c := r.app(t)
	sa := r.serviceAccounts["rel-oauth-callback-server"]
	if sa == nil || sa.Annotations["iam.gke.io/gcp-service-account"] != "oauth-callback-server@example-project.iam.gserviceaccount.com" {
		t.Fatalf("ServiceAccount: %+v", sa)
	}
	assertSignsInAs(t, r, sa.Name, "gcp")
	if e := env(c, "OAUTH_CALLBACK_REDIS_CLUSTER_ADDRS"); e == nil || e.Value != "10.128.0.3:6379" {
		t.Errorf("OAUTH_CALLBACK_REDIS_CLUSTER_ADDRS: %+v", e)
	}
	if e := env(c, "OAUTH_CALLBACK_REDIS_TLS"); e == nil || e.Value != "true" {
		t.Errorf("OAUTH_CALLBACK_REDIS_TLS: %+v", e)
	}
	// Off by default: no cloud's annotation at all.
	if sa := mustRender(t).serviceAccounts["rel-oauth-callback-server"]; len(sa.Annotations) != 0 {
		t.Errorf("default ServiceAccount annotations: %v", sa.Annotations)
	}
}

// With serviceAccount.create=false the operator annotates their own
// ServiceAccount: the chart renders when it is given no annotation to
// drop, and the pods run as the named account.
func TestCloudIdentityOnYourOwnServiceAccount(t *testing.T) {
	for name, args := range map[string][]string{
		"Azure":            {"-f", filepath.Join(chartDir(t), "ci", "azure-managed-redis-values.yaml"), "--set", "azureWorkloadIdentity.clientId="},
		"EKS Pod Identity": {"-f", filepath.Join(chartDir(t), "ci", "elasticache-values.yaml"), "--set", "awsIRSA.roleArn="},
		"GKE":              {"-f", filepath.Join(chartDir(t), "ci", "memorystore-values.yaml"), "--set", "gkeWorkloadIdentity.serviceAccount="},
	} {
		r, err := render(t, append(args, "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=mine")...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d, _ := r.app(t); d.Spec.Template.Spec.ServiceAccountName != "mine" || len(r.serviceAccounts) != 0 {
			t.Errorf("%s: runs as %q, chart's ServiceAccounts %d", name, d.Spec.Template.Spec.ServiceAccountName, len(r.serviceAccounts))
		}
	}
}

// assertSignsInAs: both pods run as the annotated ServiceAccount and sign
// in with the cloud's tokens, with no password, no password Secret and no
// bundled Redis.
func assertSignsInAs(t *testing.T, r *rendered, account, auth string) {
	t.Helper()
	d, c := r.app(t)
	check := r.pods["rel-oauth-callback-server-check"]
	if check == nil {
		t.Fatal("no check pod")
	}
	for name, p := range map[string]corev1.PodSpec{"service": d.Spec.Template.Spec, "check": check.Spec} {
		if p.ServiceAccountName != account {
			t.Errorf("the %s pod runs as %q, not the annotated %q", name, p.ServiceAccountName, account)
		}
		if e := env(p.Containers[0], "OAUTH_CALLBACK_REDIS_AUTH"); e == nil || e.Value != auth {
			t.Errorf("the %s pod's OAUTH_CALLBACK_REDIS_AUTH: %+v, want %s", name, e, auth)
		}
	}
	for _, name := range []string{"OAUTH_CALLBACK_REDIS_PASSWORD", "OAUTH_CALLBACK_REDIS_PASSWORD_FILE"} {
		if e := env(c, name); e != nil {
			t.Errorf("%s is set with %s: %+v", name, auth, e)
		}
	}
	if r.deployments["rel-oauth-callback-server-redis"] != nil || len(r.secrets) > 1 {
		t.Errorf("a bundled Redis or a password Secret was rendered: %v", keys(r.secrets))
	}
}

// TestPasswordAsAFile: with redis.password.asFile the password is a file
// mounted from its Secret (which the kubelet updates when it rotates), in
// the service's pods and the check pod alike, and no longer a variable.
func TestPasswordAsAFile(t *testing.T) {
	r := mustRender(t, "-f", filepath.Join(chartDir(t), "ci", "password-file-values.yaml"))
	d, c := r.app(t)
	check := r.pods["rel-oauth-callback-server-check"]
	if e := env(c, "OAUTH_CALLBACK_REDIS_PASSWORD"); e != nil {
		t.Errorf("the password is still a variable: %+v", e)
	}
	file := env(c, "OAUTH_CALLBACK_REDIS_PASSWORD_FILE")
	if file == nil || file.Value != "/etc/oauth-callback-server/redis-password/redis-password" {
		t.Fatalf("OAUTH_CALLBACK_REDIS_PASSWORD_FILE: %+v", file)
	}
	for name, spec := range map[string]corev1.PodSpec{"service": d.Spec.Template.Spec, "check": check.Spec} {
		var secret string
		for _, v := range spec.Volumes {
			if v.Name == "redis-password" && v.Secret != nil {
				secret = v.Secret.SecretName
			}
		}
		if secret != "rel-oauth-callback-server-redis" {
			t.Errorf("%s pod: redis-password volume from %q, want the generated password Secret", name, secret)
		}
		mounted := false
		for _, m := range spec.Containers[0].VolumeMounts {
			mounted = mounted || m.Name == "redis-password" && strings.HasPrefix(file.Value, m.MountPath+"/") && m.ReadOnly
		}
		if !mounted {
			t.Errorf("%s pod: the password file is not mounted read-only: %+v", name, spec.Containers[0].VolumeMounts)
		}
	}
}

func TestExternalRedisURLIsKeptInASecret(t *testing.T) {
	r := mustRender(t, "--set", "redis.enabled=false", "--set", "redis.external.url=redis://:s3cret@redis:6379/0")
	_, c := r.app(t)
	url := env(c, "OAUTH_CALLBACK_REDIS_URL")
	if url == nil || url.Value != "" || url.ValueFrom == nil || url.ValueFrom.SecretKeyRef.Name != "rel-oauth-callback-server" {
		t.Fatalf("URL env: %+v", url)
	}
	if got := string(r.secrets["rel-oauth-callback-server"].Data["redis-url"]); got != "redis://:s3cret@redis:6379/0" {
		t.Errorf("Secret holds %q", got)
	}
}

// Hostile traffic, round 3 (info): a start_url behind the Ingress was a 404,
// and the obvious widening to / would publish /api and /metrics.
func TestIngressExposesOnlyTheCallbackAndSignInLinks(t *testing.T) {
	r := mustRender(t, "-f", filepath.Join(chartDir(t), "ci", "full-values.yaml"))
	if len(r.ingresses) != 1 {
		t.Fatalf("ingresses: %d", len(r.ingresses))
	}
	ing := r.ingresses[0]
	if len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != "auth-tls" {
		t.Errorf("TLS: %+v", ing.Spec.TLS)
	}
	allowed := map[string]networkingv1.PathType{"/callback": networkingv1.PathTypeExact, "/start/": networkingv1.PathTypePrefix}
	for _, rule := range ing.Spec.Rules {
		routed := map[string]bool{}
		for _, p := range rule.HTTP.Paths {
			if want, ok := allowed[p.Path]; !ok || p.PathType == nil || *p.PathType != want {
				t.Errorf("ingress routes %q (%v): only /callback (Exact) and /start/ (Prefix) may be public", p.Path, p.PathType)
			}
			routed[p.Path] = true
		}
		if len(routed) != len(allowed) {
			t.Errorf("host %s routes %v, want /callback and /start/", rule.Host, routed)
		}
	}
	if len(r.netpols) != 1 {
		t.Fatalf("network policies: %d", len(r.netpols))
	}
	np := r.netpols[0]
	from := np.Spec.Ingress[0].From
	if from[0].PodSelector == nil || from[0].PodSelector.MatchLabels["app.kubernetes.io/name"] != "mcp-server" ||
		from[0].NamespaceSelector == nil || from[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "mcp" {
		t.Errorf("API client peer: %+v", from[0])
	}
	if len(from) != 3 {
		t.Errorf("peers: %d, want API clients, ingress controller, monitoring", len(from))
	}
	if len(r.hpas) != 1 || *r.hpas[0].Spec.MinReplicas != 2 || r.hpas[0].Spec.MaxReplicas != 6 {
		t.Errorf("HPA: %+v", r.hpas)
	}
	if d, _ := r.app(t); d.Spec.Replicas != nil {
		t.Error("replicas set on a Deployment the HPA scales")
	}
	if len(r.serviceMonitors) != 1 || r.serviceMonitors[0].Spec.Endpoints[0].Path != "/metrics" ||
		r.serviceMonitors[0].Labels["release"] != "prometheus" {
		t.Errorf("ServiceMonitor: %+v", r.serviceMonitors)
	}
}

func TestConfigAndSecretsReachTheContainer(t *testing.T) {
	r := mustRender(t, "-f", filepath.Join(chartDir(t), "ci", "bundled-redis-values.yaml"))
	_, c := r.app(t)
	cm := r.configMaps["rel-oauth-callback-server"]
	if cm == nil || cm.Data["OAUTH_CALLBACK_LOG_LEVEL"] != "debug" || cm.Data["OAUTH_CALLBACK_MAX_WAIT"] != "30s" ||
		cm.Data["OAUTH_CALLBACK_PORT"] != "8000" || cm.Data["OAUTH_CALLBACK_DRAIN_DELAY"] != "2s" {
		t.Errorf("ConfigMap: %+v", cm)
	}
	var fromCM, fromSecret bool
	for _, e := range c.EnvFrom {
		fromCM = fromCM || (e.ConfigMapRef != nil && e.ConfigMapRef.Name == "rel-oauth-callback-server")
		fromSecret = fromSecret || (e.SecretRef != nil && e.SecretRef.Name == "oauth-callback-extra")
	}
	if !fromCM || !fromSecret {
		t.Errorf("envFrom: %+v", c.EnvFrom)
	}
	if pw := env(c, "OAUTH_CALLBACK_REDIS_PASSWORD"); pw == nil || pw.ValueFrom.SecretKeyRef.Name != "redis-auth" {
		t.Errorf("password from the operator's Secret: %+v", pw)
	}
	if _, generated := r.secrets["rel-oauth-callback-server-redis"]; generated {
		t.Error("a password Secret was generated although existingSecret is set")
	}
}

func TestConfigurationsThatCannotWorkFailToRender(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"replicas without Redis", []string{"--set", "redis.enabled=false"}, "needs Redis"},
		{"autoscaling without Redis", []string{"--set", "redis.enabled=false", "--set", "replicaCount=1", "--set", "autoscaling.enabled=true"}, "needs Redis"},
		{"both Redis kinds", []string{"--set", "redis.external.url=redis://x:6379"}, "not both"},
		{"grace period too short", []string{"--set", "terminationGracePeriodSeconds=10"}, "terminationGracePeriodSeconds"},
		{"typo in values", []string{"--set", "replicaCout=3"}, "additional properties"},
		{"bad Redis URL", []string{"--set", "redis.enabled=false", "--set", "redis.external.url=http://x"}, "redis"},
		{"byte budget above the bundled Redis's maxmemory", []string{"--set", "store.maxMemory=160Mi"}, "store.maxMemory (160Mi) needs a bundled Redis maxmemory"},
		{"Redis limit that is no quantity", []string{"--set", "redis.resources.limits.memory=lots"}, "not a memory quantity"},
		{"Entra ID on the bundled Redis", []string{"--set", "redis.external.auth=entra"}, "set redis.enabled=false"},
		{"Entra ID without a Redis", []string{"--set", "redis.enabled=false", "--set", "replicaCount=1", "--set", "redis.external.auth=entra"}, "needs an external Redis"},
		{"Entra ID with a password", []string{"-f", filepath.Join(chartDir(t), "ci", "azure-managed-redis-values.yaml"), "--set", "redis.password.existingSecret=pw"}, "remove redis.password.existingSecret"},
		{"an unknown Redis sign-in", []string{"--set", "redis.external.auth=kerberos"}, "auth"},
		{"AWS IAM on the bundled Redis", []string{"--set", "redis.external.auth=aws"}, "set redis.enabled=false"},
		{"AWS IAM over plain TCP", []string{"-f", filepath.Join(chartDir(t), "ci", "elasticache-values.yaml"), "--set", "redis.external.url=redis://cache.example:6379"}, "needs TLS"},
		{"AWS IAM without a cache name", []string{"-f", filepath.Join(chartDir(t), "ci", "elasticache-values.yaml"), "--set", "redis.external.aws.cacheName="}, "redis.external.aws.cacheName"},
		{"AWS IAM without a user", []string{"-f", filepath.Join(chartDir(t), "ci", "elasticache-values.yaml"), "--set", "redis.external.username="}, "redis.external.username"},
		{"an upper-case AWS cache name", []string{"-f", filepath.Join(chartDir(t), "ci", "elasticache-values.yaml"), "--set", "redis.external.aws.cacheName=OAuth"}, "cacheName"},
		{"an unknown AWS service", []string{"-f", filepath.Join(chartDir(t), "ci", "elasticache-values.yaml"), "--set", "redis.external.aws.service=dynamodb"}, "service"},
		{"an IRSA role that is no role ARN", []string{"--set", "awsIRSA.roleArn=oauth-callback-server"}, "roleArn"},
		{"Google Cloud IAM over plain TCP", []string{"-f", filepath.Join(chartDir(t), "ci", "memorystore-values.yaml"), "--set", "redis.external.tls.enabled=false"}, "redis.external.auth=gcp needs TLS"},
		{"AWS IAM on a redis:// URL with tls.enabled", []string{"-f", filepath.Join(chartDir(t), "ci", "elasticache-values.yaml"), "--set", "redis.external.url=redis://cache.example:6379", "--set", "redis.external.tls.enabled=true"}, "use a rediss:// URL"},
		{"Google Cloud IAM on a redis:// URL with tls.enabled", []string{"-f", filepath.Join(chartDir(t), "ci", "memorystore-values.yaml"), "--set", "redis.external.clusterAddrs=null", "--set", "redis.external.url=redis://10.128.0.3:6379"}, "use a rediss:// URL"},
		{"an IRSA role on no ServiceAccount", []string{"-f", filepath.Join(chartDir(t), "ci", "elasticache-values.yaml"), "--set", "serviceAccount.create=false"}, "awsIRSA.roleArn is an annotation on the chart's ServiceAccount"},
		{"a GKE service account on no ServiceAccount", []string{"-f", filepath.Join(chartDir(t), "ci", "memorystore-values.yaml"), "--set", "serviceAccount.create=false"}, "gkeWorkloadIdentity.serviceAccount is an annotation"},
		{"an Azure client id on no ServiceAccount", []string{"-f", filepath.Join(chartDir(t), "ci", "azure-managed-redis-values.yaml"), "--set", "serviceAccount.create=false"}, "azureWorkloadIdentity.clientId/tenantId is an annotation"},
		{"Google Cloud IAM with a password", []string{"-f", filepath.Join(chartDir(t), "ci", "memorystore-values.yaml"), "--set", "redis.password.existingSecret=pw"}, "remove redis.password.existingSecret"},
		{"a GKE service account that is no email", []string{"--set", "gkeWorkloadIdentity.serviceAccount=oauth-callback-server"}, "serviceAccount"},
		{"workload identity without a client id", []string{"--set", "azureWorkloadIdentity.enabled=true"}, "azureWorkloadIdentity.clientId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := render(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a failure mentioning %q", err, tt.want)
			}
		})
	}
}

func TestOneReplicaOnMemoryHasNoPDB(t *testing.T) {
	r := mustRender(t, "-f", filepath.Join(chartDir(t), "ci", "memory-single-values.yaml"))
	_, c := r.app(t)
	if env(c, "OAUTH_CALLBACK_REDIS_URL") != nil || len(r.pdbs) != 0 {
		t.Errorf("memory store: Redis URL %v, PDBs %d", env(c, "OAUTH_CALLBACK_REDIS_URL"), len(r.pdbs))
	}
}

// notes renders the install notes. helm install --dry-run cannot be told the
// Kubernetes version; the same action through Helm's library can.
func notes(t *testing.T, values map[string]any) string {
	t.Helper()
	ch, err := loader.Load(chartDir(t))
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(&action.Configuration{})
	install.ReleaseName, install.Namespace = "rel", "test"
	install.DryRun, install.ClientOnly = true, true
	install.KubeVersion = &chartutil.KubeVersion{Version: "v" + kubeVersion, Major: "1", Minor: "31"}
	rel, err := install.Run(ch, values)
	if err != nil {
		t.Fatal(err)
	}
	return rel.Info.Notes
}

func TestNotesTellTheRedirectURIAndAPIURL(t *testing.T) {
	n := notes(t, map[string]any{"publicURL": "https://auth.example.com"})
	for _, want := range []string{
		"https://auth.example.com/callback",
		"MICROSOFT_MCP_OAUTH_CALLBACK_API_URL=http://rel-oauth-callback-server.test.svc.cluster.local:8000/api/callback/{state}",
	} {
		if !strings.Contains(n, want) {
			t.Errorf("NOTES lack %q:\n%s", want, n)
		}
	}
}

func TestTestPodIsNotAnEndpointOfTheService(t *testing.T) {
	for _, args := range [][]string{nil, {"-f", filepath.Join(chartDir(t), "ci", "full-values.yaml")}} {
		r := mustRender(t, args...)
		pod := r.pods["rel-oauth-callback-server-test-connection"]
		if r.serviceSelects(pod) {
			t.Errorf("the Service selects the test pod (labels %v)", pod.Labels)
		}
	}
}

// TestChartREADMEIsCurrent: the values table is generated from the comments
// in values.yaml (make chart-docs); a value added without regenerating it
// fails here.
func TestChartREADMEIsCurrent(t *testing.T) {
	cmd := exec.Command("go", "tool", "helm-docs", "--dry-run", "--log-level", "warning",
		"--chart-search-root", filepath.Join(repoRoot(t), "charts"))
	want, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm-docs: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(chartDir(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(got)) != strings.TrimSpace(string(want)) {
		t.Error("charts/oauth-callback-server/README.md is out of date: run make chart-docs")
	}
}

func TestSentinelAndClusterReachTheContainer(t *testing.T) {
	r := mustRender(t, "-f", filepath.Join(chartDir(t), "ci", "sentinel-values.yaml"))
	d, c := r.app(t)
	want := map[string]string{
		"OAUTH_CALLBACK_REDIS_SENTINEL_ADDRS":  "sentinel-0.redis:26379,sentinel-1.redis:26379,sentinel-2.redis:26379",
		"OAUTH_CALLBACK_REDIS_SENTINEL_MASTER": "mymaster",
		"OAUTH_CALLBACK_REDIS_USERNAME":        "oauth-callback",
		"OAUTH_CALLBACK_REDIS_TLS":             "true",
		"OAUTH_CALLBACK_REDIS_TLS_CA_FILE":     "/etc/oauth-callback-server/redis-tls/ca.crt",
		"OAUTH_CALLBACK_REDIS_TLS_CERT_FILE":   "/etc/oauth-callback-server/redis-tls/tls.crt",
	}
	for name, value := range want {
		if e := env(c, name); e == nil || e.Value != value {
			t.Errorf("%s: %+v, want %q", name, e, value)
		}
	}
	if env(c, "OAUTH_CALLBACK_REDIS_URL") != nil {
		t.Error("a Redis URL besides the sentinels")
	}
	vols := d.Spec.Template.Spec.Volumes
	if len(vols) != 1 || vols[0].Secret == nil || vols[0].Secret.SecretName != "redis-tls" ||
		len(c.VolumeMounts) != 1 || !c.VolumeMounts[0].ReadOnly {
		t.Errorf("TLS secret volume: %+v %+v", vols, c.VolumeMounts)
	}

	r = mustRender(t, "-f", filepath.Join(chartDir(t), "ci", "cluster-values.yaml"))
	_, c = r.app(t)
	if e := env(c, "OAUTH_CALLBACK_REDIS_CLUSTER_ADDRS"); e == nil || !strings.Contains(e.Value, "redis-cluster-2.redis:6379") {
		t.Errorf("cluster addresses: %+v", e)
	}

	for _, args := range [][]string{
		{"--set", "redis.enabled=false", "--set", "redis.external.sentinelAddrs={s:26379}"},
		{"--set", "redis.enabled=false", "--set", "redis.external.clusterAddrs={c:6379}", "--set", "redis.external.url=redis://x:6379"},
	} {
		if _, err := render(t, args...); err == nil {
			t.Errorf("%v rendered", args)
		}
	}
}

func TestNotesWarnAboutRateLimitsBehindAnIngress(t *testing.T) {
	ingress := map[string]any{"enabled": true, "hosts": []any{"auth.example.com"}}
	if n := notes(t, map[string]any{"ingress": ingress}); !strings.Contains(n, "OAUTH_CALLBACK_TRUSTED_PROXIES is not set") {
		t.Errorf("no warning with an ingress and no trusted proxies:\n%s", n)
	}
	withProxies := map[string]any{"ingress": ingress, "config": map[string]any{"OAUTH_CALLBACK_TRUSTED_PROXIES": "10.0.0.0/8"}}
	if n := notes(t, withProxies); strings.Contains(n, "WARNING") {
		t.Errorf("warning although trusted proxies are set:\n%s", n)
	}
}

// The bundled Redis refuses writes past maxmemory instead of being
// OOM-killed, and the service's byte budget fits inside it: the numbers
// agree for the defaults and for a larger limit.
func TestMemoryBudgetsAgree(t *testing.T) {
	tests := []struct {
		name               string
		args               []string
		wantBudget         int64
		wantRedisMaxmemory int64
	}{
		{"defaults", nil, 64 << 20, 256 << 20 * 75 / 100},
		{"larger Redis", []string{"--set", "redis.resources.limits.memory=1Gi", "--set", "store.maxMemory=512Mi"}, 512 << 20, 1 << 30 * 75 / 100},
		{"decimal units", []string{"--set", "redis.resources.limits.memory=500M", "--set", "redis.maxmemoryPercent=80", "--set", "store.maxMemory=200M"}, 200_000_000, 400_000_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRender(t, tt.args...)
			_, c := r.app(t)
			budget := env(c, "OAUTH_CALLBACK_MAX_MEMORY")
			if budget == nil || budget.Value != strconv.FormatInt(tt.wantBudget, 10) {
				t.Errorf("OAUTH_CALLBACK_MAX_MEMORY: %+v, want %d", budget, tt.wantBudget)
			}
			args := strings.Join(r.deployments["rel-oauth-callback-server-redis"].Spec.Template.Spec.Containers[0].Args, " ")
			want := fmt.Sprintf("--maxmemory %d --maxmemory-policy noeviction", tt.wantRedisMaxmemory)
			if !strings.Contains(args, want) {
				t.Errorf("Redis args %q, want %q", args, want)
			}
			if callback.MinMaxmemory(tt.wantBudget) > tt.wantRedisMaxmemory {
				t.Errorf("budget %d does not fit maxmemory %d by the service's rule (callback.MinMaxmemory)", tt.wantBudget, tt.wantRedisMaxmemory)
			}
		})
	}
}

// First time right, round 2, item 7: one maxmemory rule. The chart's
// render-time check of its bundled Redis and the service's (check, from
// callback.MinMaxmemory) draw the line at the same byte: a maxmemory of
// exactly MinMaxmemory(budget) renders, one byte less does not.
func TestTheChartsMaxmemoryRuleIsTheServices(t *testing.T) {
	for _, budget := range []int64{64 << 20, 100 << 20, 333_333_333, 1 << 30} {
		least := callback.MinMaxmemory(budget)
		for _, maxmemory := range []int64{least, least - 1} {
			// maxmemory is maxmemoryPercent of the Redis container's limit.
			_, err := render(t, "--set", "store.maxMemory="+strconv.FormatInt(budget, 10), "--set", "redis.maxmemoryPercent=50",
				"--set", "redis.resources.limits.memory="+strconv.FormatInt(2*maxmemory, 10))
			if fits := maxmemory >= least; fits != (err == nil) {
				t.Errorf("budget %d, bundled Redis maxmemory %d: the service's rule says fits=%v, the chart rendered with %v", budget, maxmemory, fits, err)
			}
			if err != nil && !strings.Contains(err.Error(), "needs a bundled Redis maxmemory of at least 1.5 times as much") {
				t.Errorf("budget %d, maxmemory %d: %v", budget, maxmemory, err)
			}
		}
	}
	if callback.MaxmemoryRule != "1.5 times" {
		t.Errorf("the service states the rule as %q; the chart's message, values.yaml and docs/deployment.md say 1.5 times", callback.MaxmemoryRule)
	}
}

// /metrics is served on its own port by default, off the port an ingress
// exposes, and the ServiceMonitor scrapes that port.
func TestMetricsOnTheirOwnPort(t *testing.T) {
	r := mustRender(t, "--set", "serviceMonitor.enabled=true")
	_, c := r.app(t)
	if addr := env(c, "OAUTH_CALLBACK_METRICS_ADDR"); addr == nil || addr.Value != ":9090" {
		t.Errorf("OAUTH_CALLBACK_METRICS_ADDR: %+v", addr)
	}
	if len(c.Ports) != 2 || c.Ports[1].Name != "metrics" || c.Ports[1].ContainerPort != 9090 {
		t.Errorf("container ports: %+v", c.Ports)
	}
	svc := r.services["rel-oauth-callback-server"]
	if len(svc.Spec.Ports) != 2 || svc.Spec.Ports[1].Name != "metrics" {
		t.Errorf("service ports: %+v", svc.Spec.Ports)
	}
	if got := r.serviceMonitors[0].Spec.Endpoints[0].Port; got != "metrics" {
		t.Errorf("ServiceMonitor port %q, want metrics", got)
	}

	r = mustRender(t, "--set", "serviceMonitor.enabled=true", "--set", "metrics.port=0")
	_, c = r.app(t)
	if env(c, "OAUTH_CALLBACK_METRICS_ADDR") != nil || len(c.Ports) != 1 {
		t.Errorf("metrics.port=0: env %+v, ports %+v", env(c, "OAUTH_CALLBACK_METRICS_ADDR"), c.Ports)
	}
	if got := r.serviceMonitors[0].Spec.Endpoints[0].Port; got != "http" {
		t.Errorf("ServiceMonitor port %q, want http", got)
	}
}

// Issue 36, item 5: the long-polls a replica may hold fit in its memory
// limit. The chart computed them in template arithmetic while the binary
// kept its own default; now the chart passes the pod's limit only, and the
// service derives the number (memlimit.Waiters). helm test's check, run
// with the pod's environment, says what it holds.
func TestTheServiceDerivesTheLongPollsFromThePodsLimit(t *testing.T) {
	bin := buildService(t)
	tests := []struct {
		name    string
		args    []string
		wantEnv string // OAUTH_CALLBACK_MAX_WAITERS as the chart sets it; "" unset
		want    string // check's long-poll line
	}{
		{"defaults: 384Mi on Redis", nil, "", "10276 held at once per replica, what fits in OAUTH_CALLBACK_MEMORY_LIMIT (384MiB)"},
		{"a larger limit", []string{"--set", "resources.limits.memory=1Gi"}, "", fmt.Sprintf("%d held at once per replica, what fits in OAUTH_CALLBACK_MEMORY_LIMIT (1GiB)", memlimit.Waiters(1<<30, 0))},
		{"the memory store keeps its callbacks in the pod", []string{"-f", filepath.Join(chartDir(t), "ci", "memory-single-values.yaml")}, "", "8178 held at once per replica, what fits in OAUTH_CALLBACK_MEMORY_LIMIT (384MiB)"},
		{"set by the operator", []string{"--set", "capacity.maxWaiters=2500"}, "2500", "2500 held at once per replica (OAUTH_CALLBACK_MAX_WAITERS)"},
		{"set high, written as a number", []string{"--set", "capacity.maxWaiters=1000000"}, "1000000", "1000000 held at once per replica (OAUTH_CALLBACK_MAX_WAITERS)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRender(t, tt.args...)
			_, c := r.app(t)
			w := env(c, "OAUTH_CALLBACK_MAX_WAITERS")
			if (w == nil) != (tt.wantEnv == "") || (w != nil && w.Value != tt.wantEnv) {
				t.Errorf("OAUTH_CALLBACK_MAX_WAITERS: %+v, want %q", w, tt.wantEnv)
			}
			m := env(c, "OAUTH_CALLBACK_MEMORY_LIMIT")
			if m == nil || m.ValueFrom == nil || m.ValueFrom.ResourceFieldRef == nil ||
				m.ValueFrom.ResourceFieldRef.Resource != "limits.memory" || m.ValueFrom.ResourceFieldRef.ContainerName != c.Name {
				t.Errorf("OAUTH_CALLBACK_MEMORY_LIMIT: %+v, want the container's limits.memory", m)
			}
			findings := checkWith(t, bin, r.checkPodEnvironment(t))
			if !hasFinding(findings, "ok", "long-poll", tt.want) {
				t.Errorf("helm test's check does not say %q:\n%+v", tt.want, findings)
			}
		})
	}
	if _, err := render(t, "--set", "resources.limits=null"); err == nil || !strings.Contains(err.Error(), "resources.limits.memory is required unless capacity.maxWaiters is set") {
		t.Errorf("no memory limit and no capacity.maxWaiters rendered: %v", err)
	}
	// A limit with no room for long-polls: the pod would exit 2, and
	// check says why.
	r := mustRender(t, "--set", "resources.limits.memory=32Mi")
	findings := checkWith(t, bin, r.checkPodEnvironment(t))
	if !hasFinding(findings, "fail", "config", "OAUTH_CALLBACK_MEMORY_LIMIT=\"32MiB\": leaves room for 0 long-polls") {
		t.Errorf("a 32Mi limit: %+v", findings)
	}
}

// checkPodEnvironment is the environment helm test's check pod runs with,
// as the kubelet would resolve it: the ConfigMap, each variable's value,
// and the container's own memory limit for the downward API. Secrets are
// left out; the listen addresses are moved to loopback port 0, and Redis to
// a port that refuses, so that check runs on a test machine.
func (r *rendered) checkPodEnvironment(t *testing.T) map[string]string {
	t.Helper()
	pod := r.pods["rel-oauth-callback-server-check"]
	if pod == nil {
		t.Fatal("no check pod")
	}
	c := pod.Spec.Containers[0]
	out := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef != nil {
			maps.Copy(out, r.configMaps[from.ConfigMapRef.Name].Data)
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			out[e.Name] = e.Value
		case e.ValueFrom.ResourceFieldRef != nil && e.ValueFrom.ResourceFieldRef.Resource == "limits.memory":
			out[e.Name] = strconv.FormatInt(c.Resources.Limits.Memory().Value(), 10)
		}
	}
	out["OAUTH_CALLBACK_HOST"], out["OAUTH_CALLBACK_PORT"] = "127.0.0.1", "0"
	if _, ok := out["OAUTH_CALLBACK_METRICS_ADDR"]; ok {
		out["OAUTH_CALLBACK_METRICS_ADDR"] = "127.0.0.1:0"
	}
	if _, ok := out["OAUTH_CALLBACK_REDIS_URL"]; ok {
		out["OAUTH_CALLBACK_REDIS_URL"] = "redis://127.0.0.1:1"
	}
	return out
}

func hasFinding(findings []finding, status, check, text string) bool {
	for _, f := range findings {
		if f.Status == status && f.Check == check && strings.Contains(f.Message, text) {
			return true
		}
	}
	return false
}

// First time right, round 2, item 13: the chart rendered
// publicURL=http://auth.example.com, and the pod then exited 2
// (CrashLoopBackOff). The chart refuses, in its schema or at render, each
// value the service refuses, and accepts each it accepts: every row is
// rendered, and the service's check is run with the variable as the chart
// passes it.
func TestTheChartRefusesWhatTheServiceRefuses(t *testing.T) {
	bin := buildService(t)
	external := []string{"--set", "redis.enabled=false", "--set", "redis.external.url=redis://redis.example:6379"}
	longGrace := []string{"--set", "terminationGracePeriodSeconds=700"}
	tests := []struct {
		args     []string
		variable string
		value    string // as the chart passes it (or would)
		refused  bool
	}{
		{[]string{"--set", "publicURL=http://auth.example.com"}, "OAUTH_CALLBACK_PUBLIC_URL", "http://auth.example.com", true},
		{[]string{"--set", "publicURL=https://auth.example.com"}, "OAUTH_CALLBACK_PUBLIC_URL", "https://auth.example.com", false},
		{[]string{"--set", "publicURL=https://auth.example.com/"}, "OAUTH_CALLBACK_PUBLIC_URL", "https://auth.example.com", false},
		{[]string{"--set", "publicURL=https://auth.example.com:8443/oauth"}, "OAUTH_CALLBACK_PUBLIC_URL", "https://auth.example.com:8443/oauth", false},
		{[]string{"--set", "publicURL=https://auth.example.com/mycallback"}, "OAUTH_CALLBACK_PUBLIC_URL", "https://auth.example.com/mycallback", false},
		{[]string{"--set", "publicURL=https://[2001:db8::1]"}, "OAUTH_CALLBACK_PUBLIC_URL", "https://[2001:db8::1]", false},
		{[]string{"--set", "publicURL=http://localhost:8000"}, "OAUTH_CALLBACK_PUBLIC_URL", "http://localhost:8000", false},
		{[]string{"--set", "publicURL=http://127.0.0.1:8000"}, "OAUTH_CALLBACK_PUBLIC_URL", "http://127.0.0.1:8000", false},
		{[]string{"--set", "publicURL=http://[::1]:8000"}, "OAUTH_CALLBACK_PUBLIC_URL", "http://[::1]:8000", false},
		{[]string{"--set", "publicURL=http://127.0.0.256"}, "OAUTH_CALLBACK_PUBLIC_URL", "http://127.0.0.256", true},
		{[]string{"--set", "publicURL=http://localhost.example.com"}, "OAUTH_CALLBACK_PUBLIC_URL", "http://localhost.example.com", true},
		{[]string{"--set", "publicURL=auth.example.com"}, "OAUTH_CALLBACK_PUBLIC_URL", "auth.example.com", true},
		{[]string{"--set", "publicURL=ftp://auth.example.com"}, "OAUTH_CALLBACK_PUBLIC_URL", "ftp://auth.example.com", true},
		{[]string{"--set", "publicURL=https://"}, "OAUTH_CALLBACK_PUBLIC_URL", "https://", true},
		{[]string{"--set", "publicURL=https://user@auth.example.com"}, "OAUTH_CALLBACK_PUBLIC_URL", "https://user@auth.example.com", true},
		{[]string{"--set", "publicURL=https://auth.example.com/?tenant=x"}, "OAUTH_CALLBACK_PUBLIC_URL", "https://auth.example.com/?tenant=x", true},
		{[]string{"--set", "publicURL=https://auth.example.com/#top"}, "OAUTH_CALLBACK_PUBLIC_URL", "https://auth.example.com/#top", true},
		{[]string{"--set", "publicURL=http://localhost:8001/callback"}, "OAUTH_CALLBACK_PUBLIC_URL", "http://localhost:8001/callback", true},
		{[]string{"--set", "publicURL=https://auth.example.com/callback/"}, "OAUTH_CALLBACK_PUBLIC_URL", "https://auth.example.com/callback", true},

		{append([]string{"--set", "store.maxMemory=1Mi"}, external...), "OAUTH_CALLBACK_MAX_MEMORY", "1048576", false},
		{append([]string{"--set", "store.maxMemory=1048575"}, external...), "OAUTH_CALLBACK_MAX_MEMORY", "1048575", true},
		{append([]string{"--set", "store.maxMemory=64Gi"}, external...), "OAUTH_CALLBACK_MAX_MEMORY", "68719476736", false},
		{append([]string{"--set", "store.maxMemory=65Gi"}, external...), "OAUTH_CALLBACK_MAX_MEMORY", "69793218560", true},
		{[]string{"--set", "store.maxCallbackBytes=1Ki"}, "OAUTH_CALLBACK_MAX_CALLBACK_BYTES", "1024", false},
		{[]string{"--set", "store.maxCallbackBytes=1023"}, "OAUTH_CALLBACK_MAX_CALLBACK_BYTES", "1023", true},
		{[]string{"--set", "store.maxCallbackBytes=256Ki"}, "OAUTH_CALLBACK_MAX_CALLBACK_BYTES", "262144", false},
		{[]string{"--set", "store.maxCallbackBytes=257Ki"}, "OAUTH_CALLBACK_MAX_CALLBACK_BYTES", "263168", true},
		{append([]string{"--set", "shutdown.drainDelaySeconds=300"}, longGrace...), "OAUTH_CALLBACK_DRAIN_DELAY", "300s", false},
		{append([]string{"--set", "shutdown.drainDelaySeconds=301"}, longGrace...), "OAUTH_CALLBACK_DRAIN_DELAY", "301s", true},
		{append([]string{"--set", "shutdown.timeoutSeconds=300"}, longGrace...), "OAUTH_CALLBACK_SHUTDOWN_TIMEOUT", "300s", false},
		{append([]string{"--set", "shutdown.timeoutSeconds=301"}, longGrace...), "OAUTH_CALLBACK_SHUTDOWN_TIMEOUT", "301s", true},
		{[]string{"--set", "shutdown.timeoutSeconds=0"}, "OAUTH_CALLBACK_SHUTDOWN_TIMEOUT", "0s", true},
		{[]string{"--set", "capacity.maxWaiters=1000000"}, "OAUTH_CALLBACK_MAX_WAITERS", "1000000", false},
		{[]string{"--set", "capacity.maxWaiters=1000001"}, "OAUTH_CALLBACK_MAX_WAITERS", "1000001", true},
	}
	for _, tt := range tests {
		t.Run(tt.variable+"="+tt.value, func(t *testing.T) {
			r, err := render(t, tt.args...)
			key, _, _ := strings.Cut(tt.args[1], "=") // the value set first is the one tried
			key = key[strings.LastIndex(key, ".")+1:]
			switch {
			case tt.refused && err == nil:
				t.Errorf("the chart renders %v", tt.args)
			case tt.refused && !strings.Contains(err.Error(), key):
				t.Errorf("the chart refuses %v, but not for %s: %v", tt.args, key, err)
			case !tt.refused && err != nil:
				t.Errorf("the chart refuses %v: %v", tt.args, err)
			case !tt.refused:
				if got := r.setting(t, tt.variable); got != tt.value {
					t.Errorf("the chart passes %s=%q, want %q", tt.variable, got, tt.value)
				}
			}
			findings := checkWith(t, bin, map[string]string{"OAUTH_CALLBACK_HOST": "127.0.0.1", "OAUTH_CALLBACK_PORT": "0", tt.variable: tt.value})
			if refused := hasFinding(findings, "fail", "config", tt.variable); refused != tt.refused {
				t.Errorf("the service refuses %s=%q: %v, want %v\n%+v", tt.variable, tt.value, refused, tt.refused, findings)
			}
		})
	}
}

// setting is a variable of the service's container: its value, or the
// ConfigMap's.
func (r *rendered) setting(t *testing.T, name string) string {
	t.Helper()
	_, c := r.app(t)
	if e := env(c, name); e != nil {
		return e.Value
	}
	return r.configMaps["rel-oauth-callback-server"].Data[name]
}

// Sign-in links start at OAUTH_CALLBACK_PUBLIC_URL: the chart passes
// publicURL on, without its trailing slash, and nothing when it is unset
// (an address made up from the Service would be wrong for a browser).
func TestPublicURLReachesTheContainer(t *testing.T) {
	_, c := mustRender(t, "--set", "publicURL=https://auth.example.com/").app(t)
	if e := env(c, "OAUTH_CALLBACK_PUBLIC_URL"); e == nil || e.Value != "https://auth.example.com" {
		t.Errorf("OAUTH_CALLBACK_PUBLIC_URL: %+v", e)
	}
	_, c = mustRender(t).app(t)
	if e := env(c, "OAUTH_CALLBACK_PUBLIC_URL"); e != nil {
		t.Errorf("OAUTH_CALLBACK_PUBLIC_URL without publicURL: %+v", e)
	}
}

// First time right, section 3: with networkPolicy and the ServiceMonitor
// both on, the metrics port was open only to extraPeers, so Prometheus
// could not scrape, and said nothing. The monitoring namespace is let in
// by default; with metricsPeers emptied, rendering fails with a message.
func TestNetworkPolicyLetsPrometheusScrape(t *testing.T) {
	r := mustRender(t, "--set", "networkPolicy.enabled=true", "--set", "serviceMonitor.enabled=true")
	app := r.netpol(t, "rel-oauth-callback-server")
	scraped := false
	for _, rule := range app.Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Port == nil || p.Port.String() != "metrics" {
				continue
			}
			for _, peer := range rule.From {
				if peer.NamespaceSelector != nil && peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "monitoring" {
					scraped = true
				}
			}
		}
	}
	if !scraped {
		t.Errorf("the metrics port is not open to the monitoring namespace: %+v", app.Spec.Ingress)
	}

	_, err := render(t, "--set", "networkPolicy.enabled=true", "--set", "serviceMonitor.enabled=true", "--set", "networkPolicy.metricsPeers=null")
	if err == nil || !strings.Contains(err.Error(), "networkPolicy.metricsPeers") {
		t.Errorf("ServiceMonitor and NetworkPolicy with no metrics peers: %v, want a render error naming networkPolicy.metricsPeers", err)
	}
}

// The bundled Redis pod was outside the NetworkPolicy: now only the
// service's pods may reach it.
func TestNetworkPolicyCoversTheBundledRedis(t *testing.T) {
	r := mustRender(t, "--set", "networkPolicy.enabled=true", "-f", filepath.Join(chartDir(t), "ci", "bundled-redis-values.yaml"))
	redis := r.netpol(t, "rel-oauth-callback-server-redis")
	if redis.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] != "oauth-callback-server-redis" {
		t.Errorf("it selects %v, want the Redis pods", redis.Spec.PodSelector.MatchLabels)
	}
	if len(redis.Spec.Ingress) != 1 || len(redis.Spec.Ingress[0].From) != 2 ||
		redis.Spec.Ingress[0].From[0].PodSelector == nil ||
		redis.Spec.Ingress[0].From[0].PodSelector.MatchLabels["app.kubernetes.io/name"] != "oauth-callback-server" ||
		redis.Spec.Ingress[0].From[0].NamespaceSelector != nil {
		t.Errorf("who may reach Redis: %+v, want the service's pods and the check", redis.Spec.Ingress)
	}
	// The helm test running `check` reaches Redis too: its labels match the
	// second peer, and nothing wider.
	check := r.pods["rel-oauth-callback-server-check"]
	peer := redis.Spec.Ingress[0].From[1]
	if check == nil || peer.PodSelector == nil || peer.NamespaceSelector != nil || len(peer.PodSelector.MatchLabels) != 2 {
		t.Fatalf("the check's peer: %+v", peer)
	}
	for k, v := range peer.PodSelector.MatchLabels {
		if check.Labels[k] != v {
			t.Errorf("the check pod (labels %v) is not the peer %v", check.Labels, peer.PodSelector.MatchLabels)
		}
	}
}

// helm test runs `oauth-callback-server check` with the environment the
// service runs with, in every scenario: the same ConfigMap and Secret, the
// same variables, so that it checks the configuration that is deployed.
func TestHelmTestRunsTheCheckWithTheServicesEnvironment(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(chartDir(t), "ci", "*-values.yaml"))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := mustRender(t, "-f", f)
			_, app := r.app(t)
			pod := r.pods["rel-oauth-callback-server-check"]
			if pod == nil || pod.Annotations["helm.sh/hook"] != "test" || len(pod.Spec.Containers) != 1 {
				t.Fatalf("no helm test pod running check: %+v", pod)
			}
			c := pod.Spec.Containers[0]
			if fmt.Sprint(c.Args) != "[check]" || c.Image != app.Image {
				t.Errorf("the test runs %v in %s, want [check] in %s", c.Args, c.Image, app.Image)
			}
			if fmt.Sprint(c.EnvFrom) != fmt.Sprint(app.EnvFrom) {
				t.Errorf("envFrom %v, the service's %v", c.EnvFrom, app.EnvFrom)
			}
			if len(c.Env) != len(app.Env) {
				t.Fatalf("%d variables, the service has %d", len(c.Env), len(app.Env))
			}
			for i, e := range app.Env {
				got := c.Env[i]
				if e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil {
					// The limit is the container's own.
					if got.ValueFrom == nil || got.ValueFrom.ResourceFieldRef == nil || got.ValueFrom.ResourceFieldRef.ContainerName != c.Name {
						t.Errorf("%s: %+v, want the check container's own %s", e.Name, got.ValueFrom, e.ValueFrom.ResourceFieldRef.Resource)
					}
					continue
				}
				if fmt.Sprint(got) != fmt.Sprint(e) {
					t.Errorf("variable %d: %v, the service's %v", i, got, e)
				}
			}
			if r.serviceSelects(pod) {
				t.Errorf("the Service selects the check pod (labels %v)", pod.Labels)
			}
		})
	}
}

// serviceSelects reports whether the release's Service routes to pod.
func (r *rendered) serviceSelects(pod *corev1.Pod) bool {
	for k, v := range r.services["rel-oauth-callback-server"].Spec.Selector {
		if pod.Labels[k] != v {
			return false
		}
	}
	return true
}

// netpol is the rendered NetworkPolicy called name, or fails the test.
func (r *rendered) netpol(t *testing.T, name string) *networkingv1.NetworkPolicy {
	t.Helper()
	for _, np := range r.netpols {
		if np.Name == name {
			return np
		}
	}
	t.Fatalf("no NetworkPolicy %s among %d", name, len(r.netpols))
	return nil
}

// TestAppsFromASecret: the operator's apps file, or one the chart makes
// for a generated token, is mounted read-only in the service's pod and the
// check pod; the generated file is one the service reads, naming the
// token's digest only.
func TestAppsFromASecret(t *testing.T) {
	r := mustRender(t, "--set", "apps.existingSecret=mcp-apps", "--set", "apps.existingSecretKey=apps.json")
	assertAppsMounted(t, r, "mcp-apps", "apps.json")
	if _, made := r.secrets["rel-oauth-callback-server-apps"]; made {
		t.Error("a Secret of apps was generated beside the operator's")
	}

	r = mustRender(t, "-f", filepath.Join(chartDir(t), "ci", "apps-values.yaml"))
	assertAppsMounted(t, r, "rel-oauth-callback-server-apps", "apps.yaml")
	if n := notes(t, map[string]any{"apps": map[string]any{"generateToken": map[string]any{"enabled": true, "app": "mail"}}}); !strings.Contains(n, "get secret rel-oauth-callback-server-apps -o jsonpath='{.data.token}'") {
		t.Errorf("the notes do not say where the token is:\n%s", n)
	}
	secret := r.secrets["rel-oauth-callback-server-apps"]
	if secret == nil || secret.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Fatalf("generated Secret, kept by helm uninstall: %+v", secret)
	}
	token, file := string(secret.Data["token"]), secret.Data["apps.yaml"]
	if len(token) < 32 || strings.Contains(string(file), token) {
		t.Fatalf("token %d characters; the apps file holds it in the clear: %v", len(token), strings.Contains(string(file), token))
	}
	path := filepath.Join(t.TempDir(), "apps.yaml")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	found, errs := apps.ReadFile(path)
	if len(errs) > 0 || len(found) != 1 || found[0].Name != "mail" || len(found[0].Digests) != 1 || found[0].Digests[0] != sha256.Sum256([]byte(token)) {
		t.Fatalf("the service reads the generated file as %+v, %v", found, errs)
	}
	if _, err := render(t, "--set", "apps.generateToken.enabled=true", "--set", "apps.existingSecret=mcp-apps"); err == nil {
		t.Error("a generated token beside an existing apps Secret rendered")
	}
	if _, err := render(t, "--set", "apps.generateToken.enabled=true", "--set", "apps.generateToken.app=Mail"); err == nil {
		t.Error("an app name the service refuses rendered")
	}
}

func assertAppsMounted(t *testing.T, r *rendered, secretName, key string) {
	t.Helper()
	d, c := r.app(t)
	file := env(c, "OAUTH_CALLBACK_APPS_FILE")
	if file == nil || file.Value != "/etc/oauth-callback-server/apps/"+key {
		t.Fatalf("OAUTH_CALLBACK_APPS_FILE: %+v", file)
	}
	check := r.pods["rel-oauth-callback-server-check"]
	for name, spec := range map[string]corev1.PodSpec{"service": d.Spec.Template.Spec, "check": check.Spec} {
		var secret string
		for _, v := range spec.Volumes {
			if v.Name == "apps" && v.Secret != nil && len(v.Secret.Items) == 1 && v.Secret.Items[0].Key == key {
				secret = v.Secret.SecretName
			}
		}
		if secret != secretName {
			t.Errorf("%s pod: apps volume from %q, want %q", name, secret, secretName)
		}
		mounted := false
		for _, m := range spec.Containers[0].VolumeMounts {
			mounted = mounted || m.Name == "apps" && strings.HasPrefix(file.Value, m.MountPath+"/") && m.ReadOnly
		}
		if !mounted {
			t.Errorf("%s pod: the apps file is not mounted read-only: %+v", name, spec.Containers[0].VolumeMounts)
		}
	}
}
