package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testnet"
)

// Topology is what the replicas run on.
type Topology string

const (
	// Sentinel: a primary, one replica and three Sentinels; every callback
	// is acknowledged by the replica before the page says it worked
	// (OAUTH_CALLBACK_REDIS_MIN_REPLICAS=1), so no acknowledged callback
	// may be lost.
	Sentinel Topology = "sentinel"
	// Cluster: three primaries with a replica each. Cluster cannot WAIT
	// (docs/reliability.md): a primary killed may take its last
	// acknowledged writes with it, the documented window, which the
	// checker counts.
	Cluster Topology = "cluster"
)

// system is the service under test: its replicas, each in a network
// namespace of its own, and Redis.
type system struct {
	topology Topology
	sentinel *redistest.Replicated
	cluster  *redistest.Cluster
	replicas []*replica
}

// replica is one instance of the real binary.
type replica struct {
	index int
	ns    *netns
	sock  *os.File // the host's listening socket, held across restarts
	base  string
	bin   string
	env   []string
	log   *os.File // its output, every run of it: the faults make it loud

	mu  sync.Mutex
	cmd *exec.Cmd
}

// buildBinary builds the service, with an overlay (go build -overlay)
// when one is given.
func buildBinary(t testing.TB, overlay string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "oauth-callback-server")
	args := []string{"build", "-o", bin}
	if overlay != "" {
		args = append(args, "-overlay", overlay)
	}
	// #nosec G204 -- the run's own build.
	cmd := exec.Command("go", append(args, "./cmd/oauth-callback-server")...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// startSystem starts Redis in the topology and the replicas on it, each
// in its namespace, and waits until each is ready. r.sys grows as it
// does, for the record of a setup that fails.
func (r *run) startSystem() {
	t, cfg := r.t, r.cfg
	t.Helper()
	bin := buildBinary(t, cfg.Overlay)
	s := &system{topology: cfg.Topology}
	r.sys = s
	env := []string{
		"OAUTH_CALLBACK_TTL=1h", // nothing expires during a run: every loss is a loss
		"OAUTH_CALLBACK_RATE_LIMIT_CALLBACK=0", "OAUTH_CALLBACK_RATE_LIMIT_API=0", "OAUTH_CALLBACK_RATE_LIMIT_REGISTER=0",
		"OAUTH_CALLBACK_STORE_TIMEOUT=500ms", "OAUTH_CALLBACK_MAX_WAIT=2s", "OAUTH_CALLBACK_LONG_POLL_RECHECK=1s",
		"OAUTH_CALLBACK_DRAIN_DELAY=0", "OAUTH_CALLBACK_LOG_LEVEL=warn", "LISTEN_FDS=1",
	}
	var redisAddrs []string
	switch cfg.Topology {
	case Sentinel:
		s.sentinel = redistest.StartSentinel(t, 1, 3)
		env = append(env, "OAUTH_CALLBACK_REDIS_SENTINEL_ADDRS="+strings.Join(s.sentinel.SentinelAddrs(), ","),
			"OAUTH_CALLBACK_REDIS_SENTINEL_MASTER="+s.sentinel.Master, "OAUTH_CALLBACK_REDIS_MIN_REPLICAS=1")
		for _, srv := range s.redisServers() {
			redisAddrs = append(redisAddrs, srv.Addr)
		}
		if cfg.NoFailover {
			for _, sen := range s.sentinel.Sentinels {
				if out, err := redisCLI(sen.Port, "SENTINEL", "SET", s.sentinel.Master, "down-after-milliseconds", "3600000"); err != nil || out != "OK" {
					r.fatalf("Sentinel %s: SENTINEL SET down-after-milliseconds: %s %v", sen.Addr, out, err)
				}
			}
		}
	case Cluster:
		s.cluster = redistest.StartCluster(t, 3, 1)
		env = append(env, "OAUTH_CALLBACK_REDIS_CLUSTER_ADDRS="+strings.Join(s.cluster.Addrs(), ","))
		redisAddrs = s.cluster.Addrs()
	default:
		r.fatalf("topology %q: sentinel or cluster", cfg.Topology)
	}
	// Which server the run is on (OAUTH_CALLBACK_TEST_BACKEND chooses it,
	// docs/development.md), in the log a failing run leaves.
	t.Logf("redis: %s (%s)", s.redisServers()[0].Version(t), redistest.Backend())
	r.note("setup: Redis started (%s)", strings.Join(redisAddrs, ", "))
	// Redis as the faults will find it: on Sentinel, the Sentinels agreed
	// and the replica in sync (redistest waits for each alone).
	r.waitFor("Redis settled", healWithin, s.redisSettled)
	env = append(env, cfg.Env...)
	removeStaleNetns()
	for i := range cfg.Replicas {
		ns, err := newNetns(fmt.Sprintf("ocs-chaos-%d-%d", os.Getpid(), i))
		if err != nil {
			r.fatalf("replica %d: %v", i, err)
		}
		t.Cleanup(ns.Close)
		for _, addr := range redisAddrs {
			if err := ns.relay(addr); err != nil {
				r.fatalf("replica %d: relay to %s: %v", i, addr, err)
			}
		}
		l := testnet.Listen(t)
		log, err := os.Create(filepath.Join(t.TempDir(), fmt.Sprintf("replica-%d.log", i)))
		if err != nil {
			r.fatalf("replica %d: %v", i, err)
		}
		rep := &replica{index: i, ns: ns, sock: testnet.File(t, l), base: testnet.URL(l), bin: bin, env: env, log: log}
		t.Cleanup(func() { rep.sock.Close(); log.Close() })
		if err := rep.start(); err != nil {
			r.fatalf("%v", err)
		}
		t.Cleanup(rep.kill)
		s.replicas = append(s.replicas, rep)
	}
	r.waitFor("every replica ready", healWithin, s.replicasReady)
}

// redisServers are every redis-server process, Sentinels included.
func (s *system) redisServers() []*redistest.Server {
	if s.cluster != nil {
		return s.cluster.Nodes
	}
	out := append([]*redistest.Server{s.sentinel.Primary}, s.sentinel.Replicas...)
	return append(out, s.sentinel.Sentinels...)
}

// redisPorts are the ports the replicas reach Redis on: what a partition cuts.
func (s *system) redisPorts() []string {
	var ports []string
	for _, srv := range s.redisServers() {
		ports = append(ports, strconv.Itoa(srv.Port))
	}
	return ports
}

func (r *replica) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cmd := r.ns.command(r.bin)
	cmd.Env = append(os.Environ(), r.env...)
	cmd.ExtraFiles = []*os.File{r.sock}
	cmd.Stdout, cmd.Stderr = r.log, r.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start replica %d: %w", r.index, err)
	}
	r.cmd = cmd
	return nil
}

// kill ends the replica with SIGKILL (a crash: nothing is drained) and
// waits for it. The socket stays the driver's: connections wait in its
// backlog for the next start, as behind a Service.
func (r *replica) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	_ = r.cmd.Wait()
	r.cmd = nil
}

func (r *replica) signal(sig syscall.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return fmt.Errorf("replica %d is not running", r.index)
	}
	return r.cmd.Process.Signal(sig)
}
