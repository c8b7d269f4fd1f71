// Package deploytest checks the deployment files (Helm chart, compose file,
// Dockerfile) without a cluster or a Docker engine: each is parsed by its
// own project's code and the promises of the README are asserted. It is a
// module of its own so the service's go.mod stays small.
package deploytest

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// repoRoot is the service's repository, two levels up.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// helm runs the Helm CLI pinned in this module's go.mod (go tool helm).
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"tool", "helm"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// buildService builds the service's binary into the test's temporary
// directory (the build cache makes every build after the first quick).
func buildService(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "oauth-callback-server")
	build := exec.Command("go", "build", "-o", bin, "./cmd/oauth-callback-server")
	build.Dir = repoRoot(t)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// finding is one line of `oauth-callback-server check --json`.
type finding struct{ Check, Status, Message string }

// checkWith runs `bin check --json` with env alone (nothing of the test's
// own environment) and returns its findings.
func checkWith(t *testing.T, bin string, env map[string]string) []finding {
	t.Helper()
	cmd := exec.Command(bin, "check", "--json")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		t.Fatalf("check: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	var out []finding
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("check --json: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	return out
}
