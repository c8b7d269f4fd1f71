package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
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
	r   *run // the run it belongs to: its timeline

	settles        int           // waits for Redis to recover between faults of Redis
	longestSettle  time.Duration // the longest of them
	settlesOver15s int           // past the old bound
	total          time.Duration // their sum
}

// The first round, every kind once, runs whatever ctx says, and closes
// firstRound when it is done: the traffic goes on until then.
func (n *nemesis) run(ctx context.Context, firstRound chan<- struct{}) {
	kinds := faultKinds(n.sys.topology)
	if n.r.cfg.NoFailover {
		kinds = slices.DeleteFunc(kinds, func(k string) bool { return k == faultFailover })
	}
	order := append([]string(nil), kinds...)
	n.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	defer func() {
		if n.settles > 0 {
			n.r.note("nemesis: Redis recovered between faults %d times, in %.1f s on average, %.1f s at most, %d times past 15 s",
				n.settles, (n.total / time.Duration(n.settles)).Seconds(), n.longestSettle.Seconds(), n.settlesOver15s)
		}
	}()
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
		f := Fault{Kind: kind, Start: n.rec.now()}
		if kind != faultKillReplica && kind != faultPauseReplica && kind != faultPartition {
			// A fault of Redis hits a Redis that has recovered from the
			// last one: a failover asked of Sentinels still failing over,
			// or with no replica in sync, is refused or aborted.
			if missing := n.settle(kind == faultFailover); missing != "" {
				f.End = n.rec.now()
				f.Error = "not injected: Redis had not recovered from the last fault: " + missing
				n.rec.fault(f)
				continue
			}
			f.Start = n.rec.now()
		}
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
			if herr := r.ns.heal(); herr != nil { // half a partition is still one
				err = fmt.Errorf("%w; and removing it: %w", err, herr)
			}
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
		return s.Addr, fail(n.failover(s))
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

// failover asks Sentinel s to fail the primary over, and ends when the
// Sentinels name another primary. Asked before Redis has recovered from
// the last failover, a Sentinel accepts it and then aborts it
// (-failover-abort-no-good-slave when a Sentinel turns the old primary
// into a replica at that moment, -failover-abort-slave-timeout when one
// that still takes it for a primary turns it back after its promotion):
// that was issue 34's failure at the end of a run. settle waits until
// every Sentinel sees the replica as one, so the failover is accepted and
// done at once; should a Sentinel still refuse or abort it (one in TILT
// mode, its timer late on a stalled machine, acts on nothing for 30 s),
// it is asked again once Redis has settled, until failoverWithin.
func (n *nemesis) failover(s *redistest.Server) error {
	deadline := time.Now().Add(failoverWithin)
	var tries []string
	for {
		try := n.askFailover(s)
		if try == "" {
			if len(tries) > 0 {
				n.r.note("nemesis: the failover came on the try after: %s", strings.Join(tries, "; "))
			}
			return nil
		}
		tries = append(tries, fmt.Sprintf("at %.1f s: %s", time.Duration(n.rec.now()).Seconds(), try))
		if time.Now().After(deadline) {
			return fmt.Errorf("no failover after %v (%d tries): %s", failoverWithin, len(tries), strings.Join(tries, "; "))
		}
		if missing := n.settle(true); missing != "" {
			return fmt.Errorf("no failover (%s), and Redis did not recover: %s", strings.Join(tries, "; "), missing)
		}
		time.Sleep(200 * time.Millisecond) // paces a Sentinel that refuses while the others agree
	}
}

// failoverWithin bounds the failover fault: past a TILT's 30 s.
const failoverWithin = 90 * time.Second

// askFailover asks for one failover and waits for it: "" when the
// Sentinels name another primary, or what happened instead.
func (n *nemesis) askFailover(s *redistest.Server) string {
	before, err := n.primary()
	if err != nil {
		return err.Error()
	}
	out, err := redisCLI(s.Port, "SENTINEL", "FAILOVER", n.sys.sentinel.Master)
	if err != nil {
		return fmt.Sprintf("SENTINEL FAILOVER: %v", err)
	}
	if out != "OK" {
		return "SENTINEL FAILOVER refused: " + out
	}
	// The failover runs in the background: it is done when the Sentinels
	// name another primary.
	missing, waited := waitUntil(20*time.Second, func() string {
		p, err := n.primary()
		if err != nil {
			return err.Error()
		}
		if p == before {
			return "the Sentinels still name " + before.Addr
		}
		return ""
	})
	if missing != "" {
		return fmt.Sprintf("SENTINEL FAILOVER accepted; %.0f s later %s", waited.Seconds(), missing)
	}
	return ""
}

// settle waits until Redis has recovered from the last fault
// (redisHealthy; before a failover, redisSettled: up to 10 s more, for
// every Sentinel to see the replica as one), and returns what it last saw
// if it had not within settleWithin.
func (n *nemesis) settle(forFailover bool) (missing string) {
	cond := n.sys.redisHealthy
	if forFailover {
		cond = n.sys.redisSettled
	}
	missing, waited := waitUntil(settleWithin, cond)
	n.settles++
	n.total += waited
	n.longestSettle = max(n.longestSettle, waited)
	if waited > 15*time.Second {
		n.settlesOver15s++
	}
	switch {
	case missing != "":
		n.r.note("nemesis: Redis had not recovered after %.1f s: %s", waited.Seconds(), missing)
	case waited > 10*time.Second:
		n.r.note("nemesis: Redis recovered after %.1f s", waited.Seconds())
	}
	return missing
}

// settleWithin bounds the nemesis's wait for Redis between two faults of
// Redis: as the heal's (healWithin), past what Redis needs.
const settleWithin = healWithin

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
	if ctx.Err() != nil {
		err = fmt.Errorf("no answer within 2 s (paused?)")
	}
	return strings.TrimSpace(string(out)), err
}
