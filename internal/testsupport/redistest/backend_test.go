package redistest

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseBackend(t *testing.T) {
	tests := []struct {
		value   string
		want    backend
		wantErr string
	}{
		{"", backend{server: "redis-server"}, ""},
		{"valkey", backend{server: "valkey-server"}, ""},
		{"redis", backend{server: "redis-server"}, ""},
		{"/srv/trixie:valkey", backend{root: "/srv/trixie", server: "/usr/bin/valkey-server"}, ""},
		{"/srv/trixie/:redis", backend{root: "/srv/trixie", server: "/usr/bin/redis-server"}, ""},
		{"/srv/trixie", backend{}, "must be redis or valkey"},
		{"/srv/trixie:keydb", backend{}, "must be redis or valkey"},
		{"/srv/trixie:", backend{}, "must be redis or valkey"},
		{":valkey", backend{}, "empty root"},
		{"trixie:valkey", backend{}, "absolute path"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, err := parseBackend(tt.value)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseBackend(%q) = %v, %v; want an error with %q", tt.value, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseBackend(%q) = %+v, %v; want %+v", tt.value, got, err, tt.want)
			}
		})
	}
}

// TestBackend starts the server OAUTH_CALLBACK_TEST_BACKEND chose, logs
// its version (make test-backends runs it first, for the log), and checks
// what the fault and chaos suites rely on: the process the test holds is
// the server itself, so SIGKILL and SIGSTOP reach it, and it runs where
// it was asked to.
func TestBackend(t *testing.T) {
	s := Start(t)
	version := s.Version(t)
	t.Logf("backend %s: %s", Backend(), version)

	b, err := parseBackend(os.Getenv(BackendVariable))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(version, b.name()+" ") {
		t.Errorf("INFO server says %q; %s asked for %s", version, BackendVariable, b.name())
	}
	pid := infoFields(s.Cmd(t, "INFO", "server"))["process_id"]
	if want := strconv.Itoa(s.cmd.Process.Pid); pid != want {
		t.Fatalf("the server's pid is %s, the test holds %s: a signal would miss the server", pid, want)
	}
	root, err := os.Readlink("/proc/" + pid + "/root")
	if err != nil {
		t.Fatal(err)
	}
	if want := b.root; root != want && !(want == "" && root == "/") {
		t.Errorf("the server's root is %q, want %q", root, want)
	}

	s.Stop()
	if conn, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after Stop: the kill missed the server", s.Addr)
	}
}
