// Package redistest starts real redis-server processes for tests: single
// servers, a primary with replicas and sentinels, and a cluster. The
// server is the host's redis-server unless OAUTH_CALLBACK_TEST_BACKEND
// names another (backend.go): Valkey, or a Redis inside a Debian root.
package redistest

import (
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testnet"

	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Server is a redis-server (or sentinel) process that lives as long as the
// test, unless stopped.
type Server struct {
	Addr  string // host:port on 127.0.0.1
	Port  int
	bin   backend
	args  []string // beyond the port
	ready string   // the log line that says it is ready
	dir   string
	cmd   *exec.Cmd
}

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr }

// Stop kills the server, as a crash or a network cut would look to clients.
func (s *Server) Stop() {
	if s.cmd != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// Restart starts the server again on the same port after Stop: empty for
// a plain server (no persistence), with its configuration for the others.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	cmd, err := launch(s.bin, s.Port, s.dir, s.ready, s.args...)
	if err != nil {
		t.Fatalf("restart redis-server: %v", err)
	}
	s.cmd = cmd
}

// Relaunch is Restart for a goroutine other than the test's (a fault
// injector): it returns the error instead of failing the test.
func (s *Server) Relaunch() error {
	s.Stop()
	cmd, err := launch(s.bin, s.Port, s.dir, s.ready, s.args...)
	if err != nil {
		return fmt.Errorf("restart redis-server on %d: %w", s.Port, err)
	}
	s.cmd = cmd
	return nil
}

// Signal sends sig to the running server: SIGSTOP and SIGCONT pause and
// resume it, as a stalled host would.
func (s *Server) Signal(sig os.Signal) error {
	if s.cmd == nil {
		return fmt.Errorf("redis-server on %d is not running", s.Port)
	}
	return s.cmd.Process.Signal(sig)
}

// Cmd runs redis-cli against the server and returns its output.
func (s *Server) Cmd(t testing.TB, args ...string) string {
	t.Helper()
	// #nosec G204 -- redis-cli with the test's own arguments.
	out, err := exec.Command("redis-cli", append([]string{"-p", strconv.Itoa(s.Port)}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// Start starts redis-server on a free loopback port, without persistence,
// and stops it when the test ends. args are extra redis-server options.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	return startServer(t, binary(t), "Ready to accept connections", func(dir string, port int) []string { return args })
}

// StartWith starts redis-server with the options argsFor gives for its
// directory and port, e.g. to serve TLS on that port instead of TCP.
func StartWith(t testing.TB, argsFor func(dir string, port int) []string) *Server {
	t.Helper()
	return startServer(t, binary(t), "Ready to accept connections", argsFor)
}

// startServer starts a server on a port reserved for the test, which keeps
// it across a Restart.
func startServer(t testing.TB, bin backend, ready string, argsFor func(dir string, port int) []string) *Server {
	t.Helper()
	port := testnet.ReservePort(t)
	dir := t.TempDir()
	args := argsFor(dir, port)
	cmd, err := launch(bin, port, dir, ready, args...)
	if err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, bin: bin, args: args, ready: ready, dir: dir, cmd: cmd}
	t.Cleanup(s.Stop)
	return s
}

// launch runs the server on port and waits until it logs ready.
func launch(bin backend, port int, dir, ready string, extra ...string) (*exec.Cmd, error) {
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}
	if len(extra) > 0 && strings.HasSuffix(extra[0], ".conf") {
		args = append([]string{extra[0]}, append(args, extra[1:]...)...) // a config file comes first
	} else {
		args = append(args, extra...)
	}
	cmd := bin.command(args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	readyCh := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var lines []string
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			if !signalled {
				lines = append(lines, line)
				if strings.Contains(line, ready) {
					readyCh <- nil
					signalled = true
				}
			}
		}
		if !signalled {
			readyCh <- fmt.Errorf("%s exited before it was ready:\n%s", bin, strings.Join(lines, "\n"))
		}
	}()
	select {
	case err := <-readyCh:
		if err != nil {
			_ = cmd.Wait()
			return nil, err
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("%s not ready after 15s", bin)
	}
	return cmd, nil
}

// Replicated is a primary, its replicas and the sentinels watching them.
type Replicated struct {
	Primary   *Server
	Replicas  []*Server
	Sentinels []*Server
	Master    string // the name the sentinels know the primary by
}

// SentinelAddrs are the sentinels' addresses.
func (r *Replicated) SentinelAddrs() []string {
	var out []string
	for _, s := range r.Sentinels {
		out = append(out, s.Addr)
	}
	return out
}

// StartSentinel starts a primary, replicas replicas of it, and sentinels
// sentinels (none is fine) that fail over after one second without the
// primary.
func StartSentinel(t testing.TB, replicas, sentinels int) *Replicated {
	t.Helper()
	bin := binary(t)
	r := &Replicated{Master: "mymaster"}
	r.Primary = Start(t)
	// No delay before the first full sync (Redis waits 5 s by default to
	// batch replicas): a failover before it would promote an empty replica.
	r.Primary.Cmd(t, "CONFIG", "SET", "repl-diskless-sync-delay", "0")
	for range replicas {
		r.Replicas = append(r.Replicas, Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(r.Primary.Port)))
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, replica := range r.Replicas {
		for !strings.Contains(replica.Cmd(t, "INFO", "replication"), "master_link_status:up") {
			if time.Now().After(deadline) {
				t.Fatalf("replica %d did not sync: %s", replica.Port, replica.Cmd(t, "INFO", "replication"))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for range sentinels {
		s := startServer(t, bin, "+monitor master", func(dir string, port int) []string {
			conf := filepath.Join(dir, "sentinel.conf")
			body := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2\n"+
				"sentinel down-after-milliseconds %s 1000\n"+
				"sentinel failover-timeout %s 5000\n"+
				"sentinel parallel-syncs %s 1\n", r.Master, r.Primary.Port, r.Master, r.Master, r.Master)
			if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{conf, "--sentinel"}
		})
		r.Sentinels = append(r.Sentinels, s)
	}
	// Sentinels must have found each other before a failover can be voted.
	deadline = time.Now().Add(30 * time.Second)
	for sentinels > 0 {
		out := r.Sentinels[0].Cmd(t, "SENTINEL", "MASTER", r.Master)
		if strings.Contains(out, "num-other-sentinels\n"+strconv.Itoa(sentinels-1)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinels did not discover each other:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return r
}

// Cluster is a Redis Cluster of primaries, each with the same number of
// replicas.
type Cluster struct {
	Nodes []*Server
}

// Addrs are every node's address.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.Addr)
	}
	return out
}

// StartCluster starts primaries*(1+replicas) nodes and joins them with
// redis-cli --cluster create. Failover needs replicas; a test of slots
// alone starts faster without.
func StartCluster(t testing.TB, primaries, replicas int) *Cluster {
	t.Helper()
	c := &Cluster{}
	for range primaries * (1 + replicas) {
		// The bus port is reserved too: by default it is the port + 10000,
		// which may lie in the kernel's ephemeral range.
		c.Nodes = append(c.Nodes, Start(t, "--cluster-enabled", "yes", "--cluster-node-timeout", "1000",
			"--cluster-port", strconv.Itoa(testnet.ReservePort(t)),
			"--cluster-config-file", "nodes.conf", "--repl-diskless-sync-delay", "0"))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	c.Nodes[0].Cmd(t, args...)
	c.WaitHealthy(t, 30*time.Second)
	// A replica that never synced refuses to take over (its data would be
	// too old): wait for every one to be in sync before the test kills
	// anything.
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range c.Nodes {
		for {
			info := n.Cmd(t, "INFO", "replication")
			if strings.Contains(info, "role:master") || strings.Contains(info, "master_link_status:up") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster replica %d did not sync: %s", n.Port, info)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return c
}

// WaitHealthy waits until every running node reports cluster_state:ok.
func (c *Cluster) WaitHealthy(t testing.TB, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok := true
		for _, n := range c.Nodes {
			if n.cmd == nil {
				continue
			}
			if !strings.Contains(n.Cmd(t, "CLUSTER", "INFO"), "cluster_state:ok") {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not healthy after %v", within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Running reports whether the node's process runs.
func (s *Server) Running() bool { return s.cmd != nil }

// Version is the running server's name and version from INFO server:
// "valkey 8.1.1" (Valkey also reports a redis_version, for clients that
// read it) or "redis 7.0.15".
func (s *Server) Version(t testing.TB) string {
	t.Helper()
	fields := infoFields(s.Cmd(t, "INFO", "server"))
	if v := fields["valkey_version"]; v != "" {
		return "valkey " + v
	}
	return "redis " + fields["redis_version"]
}

// infoFields reads INFO's "name:value" lines.
func infoFields(info string) map[string]string {
	fields := map[string]string{}
	for _, line := range strings.Split(info, "\n") {
		if name, value, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			fields[name] = value
		}
	}
	return fields
}
