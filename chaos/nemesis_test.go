package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/redistest"
)

// The kinds of fault.
const (
	faultKillReplica   = "kill-replica"        // kill -9 a replica, start it again on its socket
	faultPauseReplica  = "pause-replica"       // SIGSTOP a replica, then SIGCONT
	faultPauseRedis    = "pause-redis"         // SIGSTOP the primary (Sentinel) or a primary (Cluster), then SIGCONT
	faultFailover      = "failover"            // SENTINEL FAILOVER
	faultKillPrimary   = "kill-primary"        // kill -9 a Cluster primary, start it again (it rejoins as a replica)
	faultPartition     = "partition"           // drop every packet between a replica and Redis, then heal
	faultPauseReplicaR = "pause-replica-redis" // SIGSTOP the Redis replica (Sentinel): WAIT cannot be answered
)

// faultKinds are the faults of a topology.
func faultKinds(t Topology) []string {
	kinds := []string{faultKillReplica, faultPauseReplica, faultPauseRedis, faultPartition}
	if t == Sentinel {
		return append(kinds, faultFailover, faultPauseReplicaR)
	}
	return append(kinds, faultKillPrimary)
}

// nemesis injects faults at random times until ctx ends: first every kind
// once in a random order, then kinds at random. Each fault is undone
// before the next one starts.
type nemesis struct {
	sys *system
	rec *recorder
	rng *rand.Rand
}

// The first round, every kind once, runs whatever ctx says, and closes
// firstRound when it is done: the traffic goes on until then.
func (n *nemesis) run(ctx context.Context, firstRound chan<- struct{}) {
	kinds := faultKinds(n.sys.topology)
	order := append([]string(nil), kinds...)
	n.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for i := 0; ; i++ {
		pause := n.between(500*time.Millisecond, 1500*time.Millisecond)
		kind := kinds[n.rng.IntN(len(kinds))]
		if i < len(order) {
			kind = order[i]
			time.Sleep(pause)
		} else {
			if i == len(order) {
				close(firstRound)
			}
			if !sleep(ctx, pause) {
				return
			}
		}
		if kind != faultKillReplica && kind != faultPauseReplica && kind != faultPartition {
			n.settle() // a fault of Redis hits a Redis that has recovered from the last one
		}
		f := Fault{Kind: kind, Start: n.rec.now()}
		f.Target, f.Error = n.inject(kind)
		f.End = n.rec.now()
		n.rec.fault(f)
	}
}

// sleep waits d or until ctx ends; false when it ended. The nemesis paces
// itself: nothing waits on it.
func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func (n *nemesis) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(n.rng.Int64N(int64(hi-lo)))
}

// inject runs one fault to its end and says what it hit, or what went
// wrong injecting it.
func (n *nemesis) inject(kind string) (target, failure string) {
	fail := func(err error) string {
		if err != nil {
			return err.Error()
		}
		return ""
	}
	switch kind {
	case faultKillReplica:
		r := n.sys.replicas[n.rng.IntN(len(n.sys.replicas))]
		r.kill()
		time.Sleep(n.between(300*time.Millisecond, 1500*time.Millisecond))
		return fmt.Sprintf("replica %d", r.index), fail(r.start())
	case faultPauseReplica:
		r := n.sys.replicas[n.rng.IntN(len(n.sys.replicas))]
		if err := r.signal(syscall.SIGSTOP); err != nil {
			return fmt.Sprintf("replica %d", r.index), err.Error()
		}
		time.Sleep(n.between(300*time.Millisecond, 2500*time.Millisecond))
		return fmt.Sprintf("replica %d", r.index), fail(r.signal(syscall.SIGCONT))
	case faultPartition:
		r := n.sys.replicas[n.rng.IntN(len(n.sys.replicas))]
		if err := r.ns.partition(n.sys.redisPorts()); err != nil {
			return fmt.Sprintf("replica %d", r.index), err.Error()
		}
		time.Sleep(n.between(500*time.Millisecond, 3*time.Second))
		return fmt.Sprintf("replica %d", r.index), fail(r.ns.heal())
	case faultPauseRedis:
		srv, err := n.primary()
		if err != nil {
			return "", err.Error()
		}
		if err := srv.Signal(syscall.SIGSTOP); err != nil {
			return srv.Addr, err.Error()
		}
		time.Sleep(n.between(300*time.Millisecond, 2500*time.Millisecond)) // past 1 s, the Sentinels or the Cluster fail over
		err = srv.Signal(syscall.SIGCONT)
		return srv.Addr, fail(err)
	case faultPauseReplicaR:
		srv, err := n.redisReplica()
		if err != nil {
			return "", err.Error()
		}
		if err := srv.Signal(syscall.SIGSTOP); err != nil {
			return srv.Addr, err.Error()
		}
		time.Sleep(n.between(300*time.Millisecond, 2*time.Second))
		return srv.Addr, fail(srv.Signal(syscall.SIGCONT))
	case faultFailover:
		s := n.sys.sentinel.Sentinels[n.rng.IntN(len(n.sys.sentinel.Sentinels))]
		before, err := n.primary()
		if err != nil {
			return s.Addr, err.Error()
		}
		var out string
		for try := 0; try < 50; try++ { // an automatic failover may be running still: INPROG, NOGOODSLAVE
			if out, err = redisCLI(s.Port, "SENTINEL", "FAILOVER", n.sys.sentinel.Master); err == nil && strings.Contains(out, "OK") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err == nil && !strings.Contains(out, "OK") {
			err = fmt.Errorf("SENTINEL FAILOVER: %s", out)
		}
		// The failover runs in the background: the fault ends when the
		// Sentinels name another primary.
		for deadline := time.Now().Add(15 * time.Second); err == nil; time.Sleep(100 * time.Millisecond) {
			if p, perr := n.primary(); perr == nil && p != before {
				break
			}
			if time.Now().After(deadline) {
				err = fmt.Errorf("the Sentinels still name %s 15 s after SENTINEL FAILOVER", before.Addr)
			}
		}
		return s.Addr, fail(err)
	case faultKillPrimary:
		srv, err := n.primary()
		if err != nil {
			return "", err.Error()
		}
		srv.Stop()
		// The fault's length: down past the node timeout (1 s), so that its
		// replica takes over; the next fault waits for the cluster to settle.
		time.Sleep(n.between(2*time.Second, 4*time.Second))
		return srv.Addr, fail(srv.Relaunch())
	}
	return "", "unknown fault " + kind
}

// settle waits, up to 15 s, until Redis has recovered from the last
// fault: on Sentinel, the primary's replica linked to it (a failover can
// be asked for, and WAIT answered); on Cluster, every slot served.
func (n *nemesis) settle() {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if n.settled() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (n *nemesis) settled() bool {
	if n.sys.cluster != nil {
		for _, node := range n.sys.cluster.Nodes {
			if out, err := redisCLI(node.Port, "CLUSTER", "INFO"); err != nil || !strings.Contains(out, "cluster_state:ok") {
				return false
			}
		}
		return true
	}
	p, err := n.primary()
	if err != nil {
		return false
	}
	r, err := n.redisReplica()
	if err != nil {
		return false
	}
	pInfo, err1 := redisCLI(p.Port, "INFO", "replication")
	rInfo, err2 := redisCLI(r.Port, "INFO", "replication")
	return err1 == nil && err2 == nil && strings.Contains(pInfo, "role:master") && strings.Contains(pInfo, "connected_slaves:1") &&
		strings.Contains(rInfo, "master_link_status:up") && strings.Contains(rInfo, "master_port:"+strconv.Itoa(p.Port))
}

// primary is the current primary (Sentinel), or a random primary (Cluster).
func (n *nemesis) primary() (*redistest.Server, error) {
	if s := n.sys.sentinel; s != nil {
		for _, sen := range s.Sentinels {
			out, err := redisCLI(sen.Port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.Master)
			if err != nil {
				continue
			}
			if fields := strings.Fields(out); len(fields) == 2 {
				for _, srv := range append([]*redistest.Server{s.Primary}, s.Replicas...) {
					if strconv.Itoa(srv.Port) == fields[1] {
						return srv, nil
					}
				}
			}
		}
		return nil, fmt.Errorf("no Sentinel names the primary")
	}
	var primaries []*redistest.Server
	for _, node := range n.sys.cluster.Nodes {
		if out, err := redisCLI(node.Port, "ROLE"); err == nil && strings.HasPrefix(out, "master") {
			primaries = append(primaries, node)
		}
	}
	if len(primaries) == 0 {
		return nil, fmt.Errorf("no Cluster node is a primary")
	}
	return primaries[n.rng.IntN(len(primaries))], nil
}

// redisReplica is the Sentinel topology's Redis replica now.
func (n *nemesis) redisReplica() (*redistest.Server, error) {
	p, err := n.primary()
	if err != nil {
		return nil, err
	}
	for _, srv := range append([]*redistest.Server{n.sys.sentinel.Primary}, n.sys.sentinel.Replicas...) {
		if srv != p {
			return srv, nil
		}
	}
	return nil, fmt.Errorf("no replica")
}

// redisCLI runs redis-cli against a local port, with a short timeout: a
// paused server must not hang the nemesis.
func redisCLI(port int, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// #nosec G204 -- the run's own arguments.
	out, err := exec.CommandContext(ctx, "redis-cli", append([]string{"-p", strconv.Itoa(port)}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
