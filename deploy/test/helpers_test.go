// Package deploytest checks the deployment files (Helm chart, compose file,
// Dockerfile) without a cluster or a Docker engine: each is parsed by its
// own project's code and the promises of the README are asserted. It is a
// module of its own so the service's go.mod stays small.
package deploytest

import (
	"bytes"
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
