package chaos

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestAFailingRunKeepsWhatItSaw: a heal that cannot succeed (the Redis
// replica left stopped, as a fault not undone would leave it) fails the
// run in its heal phase. The run's last line says so, what it waited for
// and what it saw; the history so far is kept where a checker failure
// keeps it, and replays; beside it, why, the state of Redis and of the
// replicas, the Sentinels' events and the replicas' output.
func TestAFailingRunKeepsWhatItSaw(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Redis and the service") // before the run, whose helpers would skip on another goroutine
	}
	needsRoot(t)
	artifacts := t.TempDir()
	cfg := Config{Topology: Sentinel, Seed: 34, Duration: 3 * time.Second, Workers: 4, Replicas: 2, NoFaults: true,
		Artifacts: artifacts, healWithin: 3 * time.Second,
		breakHeal: func(s *system) {
			replica := s.sentinel.Replicas[0]
			if err := replica.Signal(syscall.SIGSTOP); err != nil {
				t.Errorf("the hook could not stop the Redis replica: %v", err)
			}
			t.Cleanup(func() { _ = replica.Signal(syscall.SIGCONT) })
			t.Logf("the hook stopped the Redis replica %s", replica.Addr)
		},
	}
	rt := &recordingTB{TB: t}
	rt.run(func() { Run(rt, cfg) })

	if !rt.fatal {
		t.Fatalf("the run did not fail: %v", rt.errors)
	}
	if got := strings.Join(rt.errors, "\n"); !strings.Contains(got, "heal: Redis healthy: not after 3s; last seen: ") {
		t.Errorf("the failure does not say the phase, the wait and what it saw:\n%s", got)
	}
	last := rt.logs[len(rt.logs)-1]
	dir := artifactDir(artifacts, t.Name(), cfg.Seed)
	for _, want := range []string{"the run failed in its heal phase: heal: Redis healthy", "kept in " + dir, "history.json", "TestReplay"} {
		if !strings.Contains(last, want) {
			t.Errorf("the last line does not say %q:\n%s", want, last)
		}
	}
	h, err := ReadHistory(filepath.Join(dir, "history.json"))
	if err != nil {
		t.Fatalf("the history was not kept: %v", err)
	}
	if h.Seed != cfg.Seed || h.Topology != Sentinel || len(h.Ops) == 0 {
		t.Errorf("the kept history: seed %d, topology %s, %d operations; want seed %d, sentinel, the traffic's", h.Seed, h.Topology, len(h.Ops), cfg.Seed)
	}
	for file, want := range map[string]string{
		"failure.txt":         "failed in its heal phase",
		"state.txt":           "Redis healthy: no: ",
		"replica-0.log":       "",
		"replica-1.log":       "",
		"sentinel-events.log": "",
	} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Errorf("not kept: %v", err)
			continue
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s does not say %q:\n%s", file, want, b)
		}
	}
}

// TestAFailingSetupSaysSo: a run whose setup fails (here at once: a
// topology there is none of) says so last and keeps why, before Redis or
// any replica ran, so there is no history yet.
func TestAFailingSetupSaysSo(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the service")
	}
	artifacts := t.TempDir()
	cfg := Config{Topology: "no-such-topology", Seed: 34, Duration: time.Second, Workers: 1, Replicas: 1, Artifacts: artifacts}
	rt := &recordingTB{TB: t}
	rt.run(func() { Run(rt, cfg) })

	if !rt.fatal {
		t.Fatalf("the run did not fail: %v", rt.errors)
	}
	last := rt.logs[len(rt.logs)-1]
	dir := artifactDir(artifacts, t.Name(), cfg.Seed)
	for _, want := range []string{`the run failed in its setup phase: setup: topology "no-such-topology"`, "kept in " + dir, "failure.txt", "state.txt"} {
		if !strings.Contains(last, want) {
			t.Errorf("the last line does not say %q:\n%s", want, last)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "state.txt")); err != nil || !strings.Contains(string(b), "Redis: not started") {
		t.Errorf("state.txt: %v\n%s", err, b)
	}
	if _, err := os.Stat(filepath.Join(dir, "history.json")); err == nil {
		t.Error("a history was kept for a run that had none")
	}
}

// recordingTB is a test's testing.TB for a run meant to fail: it records
// failures and logs instead of failing the test, ends the run's goroutine
// on a fatal one as the testing package does, and runs the cleanups the
// run registered when it is over.
type recordingTB struct {
	testing.TB // the real test's: its name, its temporary directories
	mu         sync.Mutex
	failed     bool
	fatal      bool
	errors     []string
	logs       []string
	cleanups   []func()
}

// run runs f in a goroutine of its own, as a test's body, then the
// cleanups f registered, the last first.
func (r *recordingTB) run(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

func (r *recordingTB) Log(args ...any) { r.record(&r.logs, fmt.Sprintln(args...)) }
func (r *recordingTB) Logf(format string, args ...any) {
	r.record(&r.logs, fmt.Sprintf(format, args...))
}
func (r *recordingTB) Error(args ...any) { r.Fail(); r.record(&r.errors, fmt.Sprintln(args...)) }
func (r *recordingTB) Errorf(format string, args ...any) {
	r.Fail()
	r.record(&r.errors, fmt.Sprintf(format, args...))
}
func (r *recordingTB) Fatal(args ...any) { r.Error(args...); r.FailNow() }
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.FailNow()
}

func (r *recordingTB) Fail() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
}

func (r *recordingTB) FailNow() {
	r.mu.Lock()
	r.failed, r.fatal = true, true
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recordingTB) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// record keeps a line, and shows it in the real test's log.
func (r *recordingTB) record(to *[]string, line string) {
	line = strings.TrimSuffix(line, "\n")
	r.mu.Lock()
	*to = append(*to, line)
	r.mu.Unlock()
	r.TB.Log("(the run under test) " + line)
}
