package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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
	// Artifacts is where a failing run keeps what it saw; "" is
	// -chaos.out.
	Artifacts string
	// NoFailover keeps Redis's primary where it is (Sentinel): the
	// Sentinels never fail over (down-after-milliseconds one hour, so a
	// paused primary is waited for), and the nemesis asks for no failover.
	// For a service that does not WAIT: across a failover it may lose a
	// take as well as a callback, and then hand the code out again
	// (docs/api.md promises otherwise only with MIN_REPLICAS).
	NoFailover bool

	// For the tests of the run itself: a fault the heal does not undo,
	// and a shorter bound on the heal's waits.
	breakHeal  func(*system)
	healWithin time.Duration
}

// Run runs the service under cfg's traffic and faults and returns the
// history: the nemesis stops at the end of Duration, everything is healed,
// and every acknowledged callback nobody received is taken once more, so
// that the checker can tell a lost one from one whose answer a fault cut
// off.
//
// A run that fails, here or in the test's checks after it, says in its
// last lines where (setup, traffic, heal, drain, checks), what it waited
// for and what it saw, and keeps the history so far, the state of Redis
// and of every replica, the Sentinels' events and the replicas' output
// under the artifacts directory (keep).
func Run(t testing.TB, cfg Config) History {
	t.Helper()
	r := &run{t: t, cfg: cfg, began: time.Now()}
	// A t.Fatal anywhere below ends the test's goroutine: deferred, the
	// record is kept while Redis and the replicas still run.
	defer r.keepIfFailed()
	r.enter("setup", "Redis, the service's replicas in their namespaces, each ready")
	r.startSystem()
	// A failure in the test's checks after Run: its cleanups run in
	// reverse, so this one runs before the system's are torn down.
	t.Cleanup(r.keepIfFailed)
	sys := r.sys
	rec := newRecorder(cfg.Seed, cfg.Topology)
	r.mu.Lock()
	r.rec = rec
	r.mu.Unlock()
	if sys.sentinel != nil {
		r.events = &eventLog{}
		sys.watchSentinels(t, rec, r.events)
	}
	w := newWorkload(sys, rec)

	// The traffic runs for Duration, and at least until the nemesis has
	// injected every kind of fault once.
	r.enter("traffic", fmt.Sprintf("%v of sign-ins under faults, and the nemesis's first round (the history's 0 s is %s UTC, the replicas' logs' clock)",
		cfg.Duration, time.Now().UTC().Format("15:04:05.000")))
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
		(&nemesis{sys: sys, rec: rec, rng: rand.New(rand.NewPCG(cfg.Seed, 0xfa17)), r: r}).run(traffic, firstRound)
	}()
	w.run(traffic, cfg.Workers, cfg.Seed)
	<-faultsDone
	if r.events != nil {
		r.note("Sentinels' events (the three's, summed): %s", r.events.summary())
	}
	for _, f := range rec.history().Faults {
		if f.Error != "" {
			r.failf("fault %s on %s (%.1f–%.1f s) could not be injected or undone: %s", f.Kind, f.Target,
				time.Duration(f.Start).Seconds(), time.Duration(f.End).Seconds(), f.Error)
		}
	}

	r.heal()
	r.enter("drain", "a take of every acknowledged callback nobody received")
	n := w.drain(rec.history())
	r.note("drain: %d takes", n)
	r.enter("checks", "the history checked")
	return rec.history()
}

// run is one Run in progress: where it is, what it has seen, and why it
// failed, for its record.
type run struct {
	t      testing.TB
	cfg    Config
	began  time.Time
	sys    *system
	events *eventLog

	mu       sync.Mutex
	rec      *recorder
	phase    string   // setup, traffic, heal, drain, checks
	timeline []string // the phases, the long waits, the faults that went wrong
	failures []string // why the run's own code failed it
	kept     bool
}

// stamp is now on the history's clock (seconds since the traffic began),
// or in the setup before it.
func (r *run) stamp() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rec == nil {
		return fmt.Sprintf("setup +%.1f s", time.Since(r.began).Seconds())
	}
	return fmt.Sprintf("%7.1f s", time.Duration(r.rec.now()).Seconds())
}

// note adds a line to the run's timeline and the test's log.
func (r *run) note(format string, args ...any) {
	line := r.stamp() + "  " + fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.timeline = append(r.timeline, line)
	r.mu.Unlock()
	r.t.Log(line)
}

// enter starts a phase of the run.
func (r *run) enter(phase, what string) {
	r.mu.Lock()
	r.phase = phase
	r.mu.Unlock()
	r.note("%s: %s", phase, what)
}

// failf fails the run (the test goes on: the history is still checked).
func (r *run) failf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	msg = r.phase + ": " + msg
	r.failures = append(r.failures, msg)
	r.mu.Unlock()
	r.note("FAILED %s", msg)
	r.t.Error(msg)
}

// fatalf fails the run and ends it: what comes next would wait on what
// did not happen.
func (r *run) fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	msg = r.phase + ": " + msg
	r.failures = append(r.failures, msg)
	r.mu.Unlock()
	r.note("FAILED %s", msg)
	r.t.Fatal(msg)
}

// waitFor waits until cond holds, within the bound, or fails the run
// saying what it waited for and what it saw.
func (r *run) waitFor(what string, within time.Duration, cond condition) {
	missing, waited := waitUntil(within, cond)
	if missing != "" {
		r.fatalf("%s: not after %v; last seen: %s", what, within, missing)
	}
	if waited > time.Second {
		r.note("%s: after %.1f s", what, waited.Seconds())
	}
}

// keepIfFailed keeps the run's record once, if the test has failed (by
// the run's own code, a t.Fatal in a helper, or the test's checks), and
// says so last.
func (r *run) keepIfFailed() {
	if !r.t.Failed() {
		return
	}
	r.mu.Lock()
	if r.kept {
		r.mu.Unlock()
		return
	}
	r.kept = true
	phase, failures := r.phase, append([]string(nil), r.failures...)
	r.mu.Unlock()
	why := "see the errors above"
	if len(failures) > 0 {
		phase, _, _ = strings.Cut(failures[0], ":") // where it first failed, not where it got to
		why = strings.Join(failures, "; ")
	}
	dir := artifactDir(r.artifactRoot(), r.t.Name(), r.cfg.Seed)
	kept, problems := r.keep(dir)
	msg := fmt.Sprintf("the run failed in its %s phase: %s\nkept in %s: %s", phase, why, dir, strings.Join(baseNames(kept), ", "))
	if r.rec != nil {
		history := filepath.Join(dir, "history.json")
		msg += fmt.Sprintf("\nreplay: go test ./chaos -run TestReplay -args -chaos.history=%s", history)
	}
	if len(problems) > 0 {
		msg += "\nnot kept: " + strings.Join(problems, "; ")
	}
	r.t.Log(msg)
}

func (r *run) artifactRoot() string {
	if r.cfg.Artifacts != "" {
		return r.cfg.Artifacts
	}
	return *out
}

// failureReport is failure.txt: why, where, and the run's timeline.
func (r *run) failureReport() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	if len(r.failures) == 0 {
		fmt.Fprintf(&b, "%s, seed %d, topology %s: failed in its %s phase,\n  by the test's checks or a helper's t.Fatal: see the test's log\n", r.t.Name(), r.cfg.Seed, r.cfg.Topology, r.phase)
	} else {
		phase, _, _ := strings.Cut(r.failures[0], ":")
		fmt.Fprintf(&b, "%s, seed %d, topology %s: failed in its %s phase\n", r.t.Name(), r.cfg.Seed, r.cfg.Topology, phase)
	}
	for _, f := range r.failures {
		fmt.Fprintf(&b, "  %s\n", f)
	}
	b.WriteString("\ntimeline (seconds on the history's clock):\n")
	for _, line := range r.timeline {
		fmt.Fprintf(&b, "  %s\n", line)
	}
	return b.String()
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}

// heal undoes whatever a fault may have left (a partition's rules, a
// stopped process) and waits until the system is whole: Redis healthy
// (redisHealthy: on Sentinel, every Sentinel naming the primary, its
// replica linked and in sync) and every replica of the service ready,
// so that the drain's takes, which wait for the replica, get answers.
func (r *run) heal() {
	r.enter("heal", "every fault undone, Redis healthy, every replica ready")
	s := r.sys
	for _, rep := range s.replicas {
		if err := rep.ns.heal(); err != nil {
			r.failf("replica %d: removing its partition: %v", rep.index, err)
		}
		if err := rep.signal(syscall.SIGCONT); err != nil {
			r.failf("replica %d: %v", rep.index, err)
		}
	}
	for _, srv := range s.redisServers() {
		if srv.Running() {
			_ = srv.Signal(syscall.SIGCONT)
		}
	}
	if r.cfg.breakHeal != nil {
		r.cfg.breakHeal(s)
	}
	within := healWithin
	if r.cfg.healWithin != 0 {
		within = r.cfg.healWithin
	}
	r.waitFor("no partition rule left", min(within, 5*time.Second), s.noPartitions)
	r.waitFor("Redis healthy", within, s.redisHealthy)
	r.waitFor("every replica ready", within, s.replicasReady)
}

// healWithin bounds each wait of the heal: Redis needs, after a failover,
// about 8 s before a Sentinel turns the old primary into a replica and
// 5 s (repl-diskless-sync-delay) before its full sync; a loaded machine
// is slower, and a Sentinel in TILT mode waits 30 s.
const healWithin = 90 * time.Second

// noPartitions: no namespace has a rule left that drops packets.
func (s *system) noPartitions() string {
	for _, rep := range s.replicas {
		rules, err := rep.ns.rules()
		if err != nil {
			return fmt.Sprintf("replica %d: %v", rep.index, err)
		}
		if strings.Contains(rules, "drop") {
			return fmt.Sprintf("replica %d's namespace still drops packets:\n%s", rep.index, rules)
		}
	}
	return ""
}

// drain takes, once more, every state whose callback was acknowledged and
// that nobody received (and that was not conflicted or cancelled).
func (w *workload) drain(h History) (takes int) {
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
			takes++
		}
	}
	return takes
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
