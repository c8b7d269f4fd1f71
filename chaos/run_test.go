package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testnet"
)

// Config is one run.
type Config struct {
	Topology Topology
	Seed     uint64
	Duration time.Duration // of traffic under faults
	Workers  int           // concurrent sign-ins
	Replicas int           // of the service
	// Overlay, when set, builds the service with go build -overlay: a
	// deliberately broken build, to show the checker catches it.
	Overlay string
	// NoFaults runs the traffic without the nemesis.
	NoFaults bool
	// Env is more variables for the replicas, after the topology's (the
	// later of two values wins).
	Env []string
}

// Run runs the service under cfg's traffic and faults and returns the
// history: the nemesis stops at the end of Duration, everything is healed,
// and every acknowledged callback nobody received is taken once more, so
// that the checker can tell a lost one from one whose answer a fault cut
// off.
func Run(t testing.TB, cfg Config) History {
	t.Helper()
	sys := startSystem(t, cfg.Topology, cfg.Replicas, cfg.Overlay, cfg.Env)
	rec := newRecorder(cfg.Seed, cfg.Topology)
	w := newWorkload(sys, rec)

	// The traffic runs for Duration, and at least until the nemesis has
	// injected every kind of fault once.
	traffic, stopTraffic := context.WithCancel(context.Background())
	defer stopTraffic()
	firstRound, faultsDone := make(chan struct{}), make(chan struct{})
	go func() {
		time.Sleep(cfg.Duration)
		<-firstRound
		stopTraffic()
	}()
	go func() {
		defer close(faultsDone)
		if cfg.NoFaults {
			close(firstRound)
			return
		}
		(&nemesis{sys: sys, rec: rec, rng: rand.New(rand.NewPCG(cfg.Seed, 0xfa17))}).run(traffic, firstRound)
	}()
	w.run(traffic, cfg.Workers, cfg.Seed)
	<-faultsDone

	sys.heal(t)
	w.drain(rec.history())
	return rec.history()
}

// heal waits until every replica answers and Redis serves again, its
// replica in sync (so that the drain's takes, which wait for it, get
// answers).
func (s *system) heal(t testing.TB) {
	t.Helper()
	(&nemesis{sys: s}).settle()
	if s.cluster != nil {
		s.cluster.WaitHealthy(t, 60*time.Second)
	}
	for _, r := range s.replicas {
		testnet.WaitReady(t, r.base, 60*time.Second)
	}
}

// drain takes, once more, every state whose callback was acknowledged and
// that nobody received (and that was not conflicted or cancelled).
func (w *workload) drain(h History) {
	done := map[string]bool{}
	acked := map[string]bool{}
	var states []string
	for _, o := range h.Ops {
		switch {
		case o.Kind == opCallback && o.Result == resStored:
			if !acked[o.State] {
				states = append(states, o.State)
			}
			acked[o.State] = true
		case o.Kind == opTake && o.Result == resCode, o.Result == resConflict, o.Result == resCancelled:
			done[o.State] = true
		}
	}
	next := 0 // a client of its own, after every other (porcupine's visualisation wants them dense)
	for _, o := range h.Ops {
		next = max(next, o.Client+1)
	}
	a := &actor{id: next, w: w, rng: rand.New(rand.NewPCG(h.Seed, 0xd4a1))}
	for _, st := range states {
		if !done[st] {
			a.take(st)
		}
	}
}

// Report is a verdict in a few lines, for the test log and docs/reliability.md.
func (v Verdict) Report(h History) string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d, topology %s, %.0f s: %d operations (%d with an unknown outcome), faults",
		h.Seed, h.Topology, time.Duration(h.End).Seconds(), v.Ops, v.Unknown)
	for _, k := range faultKinds(h.Topology) {
		fmt.Fprintf(&b, " %s %d,", k, v.Faults[k])
	}
	fmt.Fprintf(&b, "\nacknowledged callbacks %d: handed out %d, taken by a take whose answer a fault cut off %d, lost %d\n",
		v.Acknowledged, v.Delivered, v.AnswerLost, v.Lost)
	fmt.Fprintf(&b, "requests to a replica while it was cut from Redis: %d of %d with an unknown outcome (503, or no answer)\n", v.PartitionedUnanswered, v.PartitionedOps)
	fmt.Fprintf(&b, "linearizable: %s; invariants broken: %d", v.Linearizable, len(v.Violations))
	for i, s := range v.Violations {
		if i == 10 {
			fmt.Fprintf(&b, "\n  … and %d more", len(v.Violations)-10)
			break
		}
		fmt.Fprintf(&b, "\n  %s", s)
	}
	return b.String()
}
