// Package redistest starts real redis-server processes for tests.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Server is a redis-server process that lives as long as the test.
type Server struct {
	Addr string // host:port on 127.0.0.1
	bin  string
	port int
	cmd  *exec.Cmd
}

// Stop kills the server, as a crash or a network cut would look to clients.
func (s *Server) Stop() {
	if s.cmd != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// Restart starts a fresh, empty server on the same port after Stop.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	cmd, err := launch(t, s.bin, s.port)
	if err != nil {
		t.Fatalf("restart redis-server: %v", err)
	}
	s.cmd = cmd
}

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr }

// Start starts redis-server on a free loopback port, without persistence,
// and stops it when the test ends. Without redis-server on PATH the test is
// skipped, or fails when the CI environment variable is set: CI must never
// pass by skipping the tests that need real Redis.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server not found on PATH, and CI is set: install it (apt-get install redis-server)")
		}
		t.Skip("SKIPPED: redis-server not found on PATH; install it to run the real-Redis tests (CI fails instead of skipping)")
	}
	// Another process can take the port between our probe and Redis's bind;
	// try again on a fresh port when that happens.
	var lastErr error
	for range 5 {
		s, err := start(t, bin)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("start redis-server: %v", lastErr)
	return nil
}

func start(t testing.TB, bin string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd, err := launch(t, bin, port)
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), bin: bin, port: port, cmd: cmd}
	t.Cleanup(s.Stop)
	return s, nil
}

// launch runs redis-server on port and waits until it accepts connections.
func launch(t testing.TB, bin string, port int) (*exec.Cmd, error) {
	// #nosec G204 -- bin is redis-server from PATH, the arguments are ours.
	cmd := exec.Command(bin,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", t.TempDir(),
	)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var lines []string
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			if !signalled {
				lines = append(lines, line)
				if strings.Contains(line, "Ready to accept connections") {
					ready <- nil
					signalled = true
				}
			}
		}
		if !signalled {
			ready <- fmt.Errorf("redis-server exited before it was ready:\n%s", strings.Join(lines, "\n"))
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			_ = cmd.Wait()
			return nil, err
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("redis-server not ready after 10s")
	}
	return cmd, nil
}

func freePort() (int, error) {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
