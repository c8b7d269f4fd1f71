package redistest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// BackendVariable chooses the server every test starts: unset, the host's
// redis-server from PATH; "valkey" or "redis", that name's server from
// PATH; "ROOT:valkey" or "ROOT:redis", /usr/bin/NAME-server inside the
// Debian root ROOT (make backends-root builds one), run with chroot.
const BackendVariable = "OAUTH_CALLBACK_TEST_BACKEND"

var backendName = regexp.MustCompile(`^(redis|valkey)$`)

// backend is where the server binary lives and how it is started.
type backend struct {
	root   string // "" on the host; else the root the server is chrooted into
	server string // the binary: a host path, or an absolute path inside root
}

// parseBackend reads BackendVariable's value.
func parseBackend(value string) (backend, error) {
	if value == "" {
		return backend{server: "redis-server"}, nil
	}
	root, name := "", value
	if i := strings.LastIndex(value, ":"); i >= 0 {
		root, name = value[:i], value[i+1:]
	}
	if !backendName.MatchString(name) {
		return backend{}, fmt.Errorf("%s=%q: the name after the last colon must be redis or valkey", BackendVariable, value)
	}
	if root == "" {
		if strings.Contains(value, ":") {
			return backend{}, fmt.Errorf("%s=%q: empty root before the colon", BackendVariable, value)
		}
		return backend{server: name + "-server"}, nil
	}
	if !filepath.IsAbs(root) {
		return backend{}, fmt.Errorf("%s=%q: the root must be an absolute path", BackendVariable, value)
	}
	return backend{root: filepath.Clean(root), server: "/usr/bin/" + name + "-server"}, nil
}

// name is "redis" or "valkey".
func (b backend) name() string { return strings.TrimSuffix(filepath.Base(b.server), "-server") }

// String says which server this is, for test logs and failures.
func (b backend) String() string {
	if b.root == "" {
		return b.server
	}
	return b.server + " in " + b.root
}

// find checks that the binary is there and, for a root, that the test can
// chroot: it returns a reason when it is not.
func (b backend) find() (backend, error) {
	if b.root == "" {
		path, err := exec.LookPath(b.server)
		if err != nil {
			return b, fmt.Errorf("%s not found on PATH", b.server)
		}
		b.server = path
		return b, nil
	}
	if _, err := os.Stat(filepath.Join(b.root, b.server)); err != nil {
		return b, fmt.Errorf("%s: %w (make backends-root builds the root)", b, err)
	}
	if os.Geteuid() != 0 {
		return b, fmt.Errorf("%s: chroot and a mount namespace need root", b)
	}
	return b, nil
}

// chrootScript runs as the server's own process, in a mount namespace of
// its own (so nothing is left mounted on the host, whatever kills it):
// the host's temporary directory (every test's files: configs, certs,
// --dir), /dev and /proc appear at the same paths inside the root, then
// each exec keeps the pid, so the pid the test signals is the server's.
const chrootScript = `root=$1 tmp=$2; shift 2
for d in /dev /proc "$tmp"; do
	mkdir -p "$root$d" && mount --bind "$d" "$root$d" || exit 1
done
exec chroot "$root" "$@"`

// command is the exec.Cmd that starts the server with args.
func (b backend) command(args ...string) *exec.Cmd {
	if b.root == "" {
		// #nosec G204 -- the test's server binary and its own arguments.
		return exec.Command(b.server, args...)
	}
	// unshare without --fork execs into the new namespace: no parent stays
	// between the test and the server.
	argv := append([]string{"--mount", "--propagation", "private", "/bin/sh", "-c", chrootScript, "sh",
		b.root, os.TempDir(), b.server}, args...)
	// #nosec G204 -- the chosen root and server, with the test's arguments.
	return exec.Command("unshare", argv...)
}

// binary finds the server to start. Without it the test is skipped, or
// fails when the CI environment variable is set: CI must never pass by
// skipping the tests that need real Redis. A backend chosen by
// BackendVariable that cannot run always fails: the run asked for it.
func binary(t testing.TB) backend {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: starts redis-server")
	}
	chosen := os.Getenv(BackendVariable)
	b, err := parseBackend(chosen)
	if err != nil {
		t.Fatal(err)
	}
	b, err = b.find()
	switch {
	case err == nil:
		return b
	case chosen != "":
		t.Fatalf("%s=%s: %v", BackendVariable, chosen, err)
	case os.Getenv("CI") != "":
		t.Fatalf("%v, and CI is set: install it (apt-get install redis-server)", err)
	}
	t.Skipf("SKIPPED: %v; install it to run the real-Redis tests (CI fails instead of skipping)", err)
	return b
}

// Backend describes the server the tests start, as BackendVariable chose
// it, for a run's log.
func Backend() string {
	b, err := parseBackend(os.Getenv(BackendVariable))
	if err != nil {
		return err.Error()
	}
	return b.String()
}
