package deploytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The versions a release names agree: the chart's appVersion is the image
// tag the chart pulls by default, the version the binary reports when
// built as GoReleaser builds it for that tag, the chart's own version (the
// release sets both from the tag), and the newest release in CHANGELOG.md.
func TestReleaseVersionsAgree(t *testing.T) {
	root := repoRoot(t)
	var chart struct {
		Version    string `json:"version"`
		AppVersion string `json:"appVersion"`
	}
	raw, err := os.ReadFile(filepath.Join(root, "charts", "oauth-callback-server", "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &chart); err != nil {
		t.Fatal(err)
	}
	app := chart.AppVersion
	if chart.Version != app {
		t.Errorf("Chart.yaml version %s, appVersion %s: a release sets both from its tag", chart.Version, app)
	}

	_, c := mustRender(t).app(t)
	if !strings.HasSuffix(c.Image, ":"+app) {
		t.Errorf("the chart's default image %s is not tagged %s", c.Image, app)
	}

	var goreleaser struct {
		Builds []struct {
			Ldflags []string `json:"ldflags"`
			Main    string   `json:"main"`
		} `json:"builds"`
	}
	raw, err = os.ReadFile(filepath.Join(root, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &goreleaser); err != nil || len(goreleaser.Builds) != 1 || len(goreleaser.Builds[0].Ldflags) != 1 {
		t.Fatalf(".goreleaser.yaml: one build with one ldflags line expected (%v)", err)
	}
	ldflags := strings.NewReplacer("{{ .Version }}", app, "{{ .FullCommit }}", "0123456789abcdef").Replace(goreleaser.Builds[0].Ldflags[0])
	if strings.Contains(ldflags, "{{") {
		t.Fatalf("ldflags with templates this test does not know: %s", ldflags)
	}
	bin := filepath.Join(t.TempDir(), "oauth-callback-server")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, goreleaser.Builds[0].Main)
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build as GoReleaser does: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if fields := strings.Fields(string(out)); len(fields) < 2 || fields[1] != app {
		t.Errorf("the binary built for v%s reports %q", app, strings.TrimSpace(string(out)))
	}

	changelog, err := os.ReadFile(filepath.Join(root, "CHANGELOG.md"))
	if err != nil {
		t.Fatal(err)
	}
	newest := regexp.MustCompile(`(?m)^## \[(\d+\.\d+\.\d+[^\]]*)\]`).FindSubmatch(changelog)
	if newest == nil || string(newest[1]) != app {
		t.Errorf("CHANGELOG.md's newest release is %q, want %s", newest, app)
	}

	// The client packages the release publishes from the same tag.
	pyproject, err := os.ReadFile(filepath.Join(root, "clients", "python", "pyproject.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^version = "([^"]+)"$`).FindSubmatch(pyproject); m == nil || string(m[1]) != app {
		t.Errorf("clients/python/pyproject.toml's version is %q, want %s", m, app)
	}
	var npm struct {
		Version string `json:"version"`
	}
	raw, err = os.ReadFile(filepath.Join(root, "clients", "typescript", "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &npm); err != nil || npm.Version != app {
		t.Errorf("clients/typescript/package.json's version is %q (%v), want %s", npm.Version, err, app)
	}
}

// Everything that names a license names LICENSE's: MIT, like the original
// service's. The image, the chart, both client packages and the API
// description.
func TestEveryPackageDeclaresTheLicense(t *testing.T) {
	root := repoRoot(t)
	read := func(parts ...string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(append([]string{root}, parts...)...))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if !strings.HasPrefix(read("LICENSE"), "MIT License\n") {
		t.Fatal("LICENSE is not the MIT license")
	}
	for _, c := range []struct{ file, want string }{
		{"Dockerfile", `LABEL org.opencontainers.image.licenses="MIT"`},
		{"charts/oauth-callback-server/Chart.yaml", "artifacthub.io/license: MIT"},
		{"clients/python/pyproject.toml", `license = {text = "MIT"}`},
		{"clients/typescript/package.json", `"license": "MIT"`},
		{"docs/openapi.yaml", "license: {name: MIT, identifier: MIT}"},
		{".goreleaser.yaml", "- LICENSE"},
	} {
		if !strings.Contains(read(c.file), c.want) {
			t.Errorf("%s does not declare the license (%s)", c.file, c.want)
		}
	}
}
