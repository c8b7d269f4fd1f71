package deploytest

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// TestDockerfile parses the Dockerfile with BuildKit's own parser and
// linter, as docker build would, and checks its promises.
func TestDockerfile(t *testing.T) {
	f, err := os.Open(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ast, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	var warnings []string
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, _ []parser.Range) {
		warnings = append(warnings, rule+": "+msg)
	}})
	stages, _, err := instructions.Parse(ast.AST, lint)
	if err != nil {
		t.Fatalf("instructions: %v", err)
	}
	if len(warnings) > 0 {
		t.Errorf("BuildKit lint warnings: %v", warnings)
	}
	if len(stages) != 2 {
		t.Fatalf("stages: %d, want build and runtime", len(stages))
	}
	build, runtime := stages[0], stages[1]

	// The Go version go.mod asks for, exactly: golang:1.26 may be older.
	goMod, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(goMod)
	if goLine == nil {
		t.Fatal("go.mod has no go line")
	}
	if want := "golang:" + string(goLine[1]) + "-"; !strings.HasPrefix(build.BaseName, want) || build.Platform != "$BUILDPLATFORM" {
		t.Errorf("build stage FROM %s (platform %q): want %s… on $BUILDPLATFORM, the Go go.mod names", build.BaseName, build.Platform, want)
	}
	// go.mod and go.sum are copied and modules downloaded before the rest
	// of the source, so that source changes reuse the module layer.
	var order []string
	var buildRun string
	args := map[string]bool{}
	for _, c := range build.Commands {
		switch c := c.(type) {
		case *instructions.CopyCommand:
			order = append(order, "COPY "+strings.Join(c.SourcePaths, " "))
		case *instructions.RunCommand:
			line := strings.Join(c.CmdLine, " ")
			order = append(order, "RUN "+line)
			if strings.Contains(line, "go build") {
				buildRun = line
			}
		case *instructions.ArgCommand:
			for _, a := range c.Args {
				args[a.Key] = true
			}
		}
	}
	want := []string{"COPY go.mod go.sum", "RUN go mod download", "COPY ."}
	for i, w := range want {
		if i >= len(order) || !strings.HasPrefix(order[i], w) {
			t.Fatalf("build steps %v: want them to start with %v", order, want)
		}
	}
	for _, s := range []string{"CGO_ENABLED=0", "GOOS=$TARGETOS", "GOARCH=$TARGETARCH", "-trimpath", "-X main.version=${VERSION}", "./cmd/oauth-callback-server"} {
		if !strings.Contains(buildRun, s) {
			t.Errorf("go build step lacks %q: %s", s, buildRun)
		}
	}
	for _, a := range []string{"TARGETOS", "TARGETARCH", "VERSION", "COMMIT"} {
		if !args[a] {
			t.Errorf("no ARG %s in the build stage", a)
		}
	}

	if runtime.BaseName != "gcr.io/distroless/static:nonroot" {
		t.Errorf("runtime FROM %s", runtime.BaseName)
	}
	var user, entrypoint, health string
	var exposed []string
	for _, c := range runtime.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.ExposeCommand:
			exposed = append(exposed, c.Ports...)
		case *instructions.EntrypointCommand:
			entrypoint = strings.Join(c.CmdLine, " ")
			if c.PrependShell {
				t.Error("ENTRYPOINT in shell form: the image has no shell")
			}
		case *instructions.HealthCheckCommand:
			health = strings.Join(c.Health.Test, " ")
		case *instructions.RunCommand:
			t.Error("RUN in the runtime stage: distroless has no shell")
		}
	}
	if user != "65532:65532" {
		t.Errorf("USER %q, want 65532:65532", user)
	}
	if !slices.Contains(exposed, "8000") {
		t.Errorf("EXPOSE %v, want 8000", exposed)
	}
	if entrypoint != "/oauth-callback-server" {
		t.Errorf("ENTRYPOINT %q", entrypoint)
	}
	if health != "CMD /oauth-callback-server healthcheck" {
		t.Errorf("HEALTHCHECK %q, want exec form of the healthcheck subcommand", health)
	}
}

// TestBinaryIsStatic builds the binary the way the Dockerfile does and
// checks that it needs no dynamic loader (distroless/static has none).
func TestBinaryIsStatic(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "oauth-callback-server")
	cmd := exec.Command("go", "build", "-trimpath",
		"-ldflags", "-s -w -X main.version=9.9.9-test -X main.commit=abc",
		"-o", bin, "./cmd/oauth-callback-server")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary asks for a dynamic loader (PT_INTERP)")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries: %v", libs)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.Contains(string(out), "9.9.9-test (commit abc") {
		t.Errorf("version stamp: %q, %v", out, err)
	}
}

func TestDockerignoreKeepsTheContextSmall(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for _, want := range []string{".git", "bin", "charts", "clients", "examples", "**/node_modules"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
	for _, keep := range []string{"go.mod", "go.sum", "cmd", "internal"} {
		if slices.Contains(lines, keep) {
			t.Errorf(".dockerignore excludes %s, which the build needs", keep)
		}
	}
}

// The compose docs have operators put the API tokens and the key in .env
// beside the compose file, which is the build context: none of it, nor a
// TLS key, may reach the builder (`COPY . .`) and its cache.
func TestDockerignoreKeepsSecretsOut(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns := strings.Split(string(b), "\n")
	for _, secret := range []string{".env", ".env.local", "prod.env", "deploy/compose/.env", "ops/.env", "ops/redis.env", "redis-client.key", "tls/redis.pem"} {
		if !dockerignored(patterns, secret) {
			t.Errorf(".dockerignore lets %s into the build context", secret)
		}
	}
	for _, source := range []string{"go.mod", "cmd/oauth-callback-server/main.go", "internal/page/templates/page.html"} {
		if dockerignored(patterns, source) {
			t.Errorf(".dockerignore excludes %s, which the build needs", source)
		}
	}
}

// dockerignored reports whether .dockerignore's patterns leave path out of
// the build context, as Docker reads them (docs.docker.com, ".dockerignore
// files"): path.Match globs from the context's root, "**/" for any number
// of directories (zero too), an excluded directory taking its files, "!"
// taking a path back, the last matching line deciding.
func dockerignored(patterns []string, path string) bool {
	matches := func(pattern, p string) bool {
		if rest, ok := strings.CutPrefix(pattern, "**/"); ok {
			for {
				if ok, _ := filepath.Match(rest, p); ok {
					return true
				}
				_, after, more := strings.Cut(p, "/")
				if !more {
					return false
				}
				p = after
			}
		}
		ok, _ := filepath.Match(pattern, p)
		return ok
	}
	ignored := false
	for _, line := range patterns {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pattern, exception := strings.CutPrefix(line, "!")
		for p := path; ; {
			if matches(pattern, p) {
				ignored = !exception
				break
			}
			parent := filepath.Dir(p)
			if parent == "." {
				break
			}
			p = parent
		}
	}
	return ignored
}
