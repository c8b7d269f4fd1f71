package deploytest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"sigs.k8s.io/yaml"
)

// readmeCommands is every command in a Markdown file's ```sh blocks (list
// items' indented blocks too), a line ending in a backslash joined with
// the next, and runs of spaces made one.
func readmeCommands(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	inBlock := false
	for _, line := range strings.Split(strings.ReplaceAll(string(b), "\\\n", ""), "\n") {
		switch trimmed := strings.TrimSpace(line); {
		case !inBlock && trimmed == "```sh":
			inBlock = true
		case inBlock && trimmed == "```":
			inBlock = false
		case inBlock && trimmed != "":
			out = append(out, strings.Join(strings.Fields(trimmed), " "))
		}
	}
	return out
}

// placeholder is a value the reader fills in: <cache>, <the identity's client id>.
var placeholder = regexp.MustCompile(`<[^<>]+>`)

// words splits a README command as sh would, for the commands the README
// has: no quotes, no expansions (a test of one with them must learn them).
func words(t *testing.T, command string) []string {
	t.Helper()
	command = placeholder.ReplaceAllString(command, "example")
	if strings.ContainsAny(command, `"'$`+"`") {
		t.Fatalf("this test splits commands without quotes or expansions: %s", command)
	}
	return strings.Fields(command)
}

// The README's Kubernetes lines work before a release publishes the
// chart's default image: the README builds and pushes an image, and every
// helm install in it runs that image. Each helm install is rendered with
// its own arguments (helm template takes install's flags), and the build
// line is checked against the Dockerfile it builds.
func TestREADMEHelmInstallRunsTheImageItsBuildLinePushes(t *testing.T) {
	root := repoRoot(t)
	var builds, installs [][]string
	for _, c := range readmeCommands(t, filepath.Join(root, "README.md")) {
		if !strings.HasPrefix(c, "docker ") && !strings.HasPrefix(c, "helm ") {
			continue
		}
		switch w := words(t, c); {
		case len(w) > 3 && w[0] == "docker" && (w[1] == "build" || w[1] == "buildx" && w[2] == "build"):
			builds = append(builds, w)
		case len(w) > 3 && w[0] == "helm" && w[1] == "install":
			installs = append(installs, w)
		}
	}
	if len(installs) == 0 {
		t.Fatal("README.md has no helm install")
	}
	if len(builds) != 1 {
		t.Fatalf("README.md has %d image build lines, want one that builds and pushes the image its helm install lines run", len(builds))
	}
	pushed := checkBuildLine(t, root, builds[0])

	for _, install := range installs {
		name, chart, flags := install[2], install[3], install[4:]
		if strings.HasPrefix(chart, "oci://") {
			t.Errorf("README.md installs the published chart, which is not published yet: %s", strings.Join(install, " "))
			continue
		}
		args := append([]string{"template", name, filepath.Join(root, chart), "--kube-version", kubeVersion}, flags...)
		out, err := helm(t, args...)
		if err != nil {
			t.Errorf("README's %s does not render: %v\n%s", strings.Join(install, " "), err, out)
			continue
		}
		if got := serviceImage(t, out, name); got != pushed {
			t.Errorf("README's %s runs the image %s; the README's build line pushes %s", strings.Join(install, " "), got, pushed)
		}
	}
}

// checkBuildLine checks that the README's docker build line pushes one
// tagged image, built from this repository's Dockerfile, for platforms the
// release builds, with build arguments the Dockerfile declares, and
// returns the image.
func checkBuildLine(t *testing.T, root string, w []string) string {
	t.Helper()
	line := strings.Join(w, " ")
	if w[len(w)-1] != "." || slices.Contains(w, "-f") || slices.Contains(w, "--file") {
		t.Errorf("the build line does not build ./Dockerfile from the repository's root: %s", line)
	}
	if !slices.Contains(w, "--push") {
		t.Errorf("the build line does not push the image, which the cluster pulls: %s", line)
	}
	f, err := os.Open(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ast, err := parser.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	stages, metaArgs, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			declared[kv.Key] = true
		}
	}
	for _, s := range stages {
		for _, c := range s.Commands {
			if a, ok := c.(*instructions.ArgCommand); ok {
				for _, kv := range a.Args {
					declared[kv.Key] = true
				}
			}
		}
	}
	release, err := os.ReadFile(filepath.Join(root, ".github", "workflows", "release.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var image string
	for i := 0; i < len(w)-1; i++ {
		switch flag, value := w[i], w[i+1]; flag {
		case "-t", "--tag":
			if image != "" {
				t.Errorf("the build line tags more than one image: %s", line)
			}
			image = value
		case "--build-arg":
			if key, _, _ := strings.Cut(value, "="); !declared[key] {
				t.Errorf("the build line sets %s, which the Dockerfile does not declare (ARG)", key)
			}
		case "--platform":
			for _, p := range strings.Split(value, ",") {
				if !strings.Contains(string(release), p) {
					t.Errorf("the build line builds for %s, which the release does not build for", p)
				}
			}
		}
	}
	if !regexp.MustCompile(`^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9./_-]+:[A-Za-z0-9._-]+$`).MatchString(image) {
		t.Fatalf("the build line pushes %q, want registry/repository:tag", image)
	}
	return image
}

// serviceImage is the image of the release's Deployment (named as the
// chart's fullname helper names it), in helm template's output.
func serviceImage(t *testing.T, manifests, release string) string {
	t.Helper()
	for _, doc := range strings.Split(manifests, "\n---") {
		var d struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Image string `json:"image"`
						} `json:"containers"`
					} `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
			t.Fatalf("not YAML: %v", err)
		}
		fullname := d.Metadata.Name == release && strings.Contains(release, "oauth-callback-server") || d.Metadata.Name == release+"-oauth-callback-server"
		if d.Kind == "Deployment" && fullname && len(d.Spec.Template.Spec.Containers) == 1 {
			return d.Spec.Template.Spec.Containers[0].Image
		}
	}
	t.Fatalf("no Deployment %s with one container in the chart's output", release)
	return ""
}

// The READMEs' links lead somewhere: each relative link to a file that
// exists and, with an anchor, to a heading there (as GitHub makes
// anchors); and a section named in italics "above" or "below" is a heading
// of the same file, not one that moved to another (a link says where).
func TestREADMELinksResolve(t *testing.T) {
	root := repoRoot(t)
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	sectionRef := regexp.MustCompile(`\*([^*\n]+)\* (above|below)`)
	for _, readme := range []string{"README.md", "clients/go/README.md", "clients/python/README.md", "clients/typescript/README.md"} {
		path := filepath.Join(root, readme)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target, anchor, _ := strings.Cut(m[1], "#")
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file := path
			if target != "" {
				file = filepath.Join(filepath.Dir(path), target)
			}
			if _, err := os.Stat(file); err != nil {
				t.Errorf("%s links to %s, which does not exist", readme, m[1])
				continue
			}
			if anchor != "" && !slices.Contains(headingAnchors(t, file), anchor) {
				t.Errorf("%s links to %s: %s has no such heading", readme, m[1], target)
			}
		}
		for _, m := range sectionRef.FindAllStringSubmatch(string(b), -1) {
			if !slices.ContainsFunc(headingAnchors(t, path), func(a string) bool { return strings.HasPrefix(a, gitHubAnchor(m[1])) }) {
				t.Errorf("%s names the section *%s* %s, but has no such heading: link to where it is", readme, m[1], m[2])
			}
		}
	}
}

// headingAnchors is the anchor of each heading of a Markdown file.
func headingAnchors(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	inCode := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inCode = !inCode
		}
		if heading, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " "); ok && !inCode && strings.HasPrefix(line, "#") {
			out = append(out, gitHubAnchor(heading))
		}
	}
	return out
}

// gitHubAnchor is the anchor GitHub gives a heading: lower case, spaces
// made hyphens, punctuation other than hyphens and underscores dropped.
func gitHubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127 && unicode.IsLetter(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// The packages the README says to install before make test are the ones
// CI installs for it (.ci/run): the README's apt-get line is what CI runs.
func TestREADMEInstallsWhatCIInstalls(t *testing.T) {
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile("apt-get install ([^`]+)`").FindSubmatch(readme)
	if line == nil {
		t.Fatal("README.md has no apt-get install line")
	}
	listed := strings.Fields(string(line[1]))
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`missing\+=\(([^)]+)\)`).FindAllSubmatch(ci, -1) {
		if pkg := string(m[1]); !slices.Contains(listed, pkg) {
			t.Errorf("CI installs %s for make test; README.md's apt-get line does not", pkg)
		}
	}
}

// The deployment guide's helm install lines for the charts in this
// checkout (the EKS, GKE and plain ones) render as written, placeholders
// filled in: a value the schema or the chart's checks refuse fails here,
// not on a reader's cluster.
func TestDeploymentGuideHelmInstallsRender(t *testing.T) {
	root := repoRoot(t)
	rendered := 0
	for _, c := range readmeCommands(t, filepath.Join(root, "docs", "deployment.md")) {
		if !strings.HasPrefix(c, "helm install ") {
			continue
		}
		w := words(t, c)
		name, chart, flags := w[2], w[3], w[4:]
		if strings.HasPrefix(chart, "oci://") {
			continue // the published chart: the chart test renders its source
		}
		args := append([]string{"template", name, filepath.Join(root, chart), "--kube-version", kubeVersion}, flags...)
		if out, err := helm(t, args...); err != nil {
			t.Errorf("docs/deployment.md's %s does not render: %v\n%s", c, err, out)
		}
		rendered++
	}
	if rendered < 3 {
		t.Errorf("docs/deployment.md has %d helm install lines of this checkout's chart, want the plain, EKS and GKE ones", rendered)
	}
}
