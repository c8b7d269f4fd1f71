package testsupport

import (
	"os/exec"
	"strings"
	"testing"
)

// The binary's dependencies, as the go command sees them, hold nothing
// under internal/testsupport: test helpers stay out of what ships.
func TestTheBinaryImportsNoTestSupport(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "../../cmd/oauth-callback-server").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var packages int
	for _, p := range strings.Fields(string(out)) {
		packages++
		if strings.Contains(p, "/internal/testsupport") {
			t.Errorf("the binary imports %s", p)
		}
	}
	if packages < 50 {
		t.Fatalf("go list named %d packages, fewer than the binary has: %s", packages, out)
	}
}
