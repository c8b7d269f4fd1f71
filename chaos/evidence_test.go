package chaos

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
)

// eventLog is what the Sentinels said during the run (PSUBSCRIBE *:
// +sdown, +switch-master, -failover-abort-…), each line stamped with the
// run's clock, so that it reads beside the history's operations and
// faults.
type eventLog struct {
	mu     sync.Mutex
	lines  []string
	counts map[string]int // by event: +switch-master, +tilt, -failover-abort-…
}

func (e *eventLog) add(line, event string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lines = append(e.lines, line)
	if e.counts == nil {
		e.counts = map[string]int{}
	}
	e.counts[event]++
}

// summary counts what says how Redis fared: failovers, Sentinels in TILT
// mode (their timer ran late), failovers aborted.
func (e *eventLog) summary() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var aborts []string
	aborted := 0
	for event, n := range e.counts {
		if strings.HasPrefix(event, "-failover-abort") {
			aborts = append(aborts, fmt.Sprintf("%s %d", event, n))
			aborted += n
		}
	}
	sort.Strings(aborts)
	s := fmt.Sprintf("+switch-master %d, +tilt %d, failovers aborted %d", e.counts["+switch-master"], e.counts["+tilt"], aborted)
	if len(aborts) > 0 {
		s += " (" + strings.Join(aborts, ", ") + ")"
	}
	return s
}

func (e *eventLog) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.lines, "\n") + "\n"
}

// watchSentinels subscribes to every Sentinel's events until the test ends.
func (s *system) watchSentinels(t testing.TB, rec *recorder, events *eventLog) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, sen := range s.sentinel.Sentinels {
		// #nosec G204 -- the run's own arguments.
		cmd := exec.CommandContext(ctx, "redis-cli", "-p", strconv.Itoa(sen.Port), "--csv", "PSUBSCRIBE", "*")
		stdout, err := cmd.StdoutPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			events.add(fmt.Sprintf("cannot follow Sentinel %s: %v", sen.Addr, err), "")
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				// "pmessage","*","+sdown","slave 127.0.0.1:… @ mymaster …"
				if event, ok := strings.CutPrefix(sc.Text(), `"pmessage","*",`); ok {
					name, _, _ := strings.Cut(event, ",")
					events.add(fmt.Sprintf("%9.3f s  Sentinel %s  %s", time.Duration(rec.now()).Seconds(), sen.Addr, event), strings.Trim(name, `"`))
				}
			}
			_ = cmd.Wait()
		}()
	}
}

// artifactDir is where a failing run keeps what it saw: one directory per
// test and seed (TestChaos/sentinel and TestChaosAutoPipelined share the
// topology and the seed).
func artifactDir(root, testName string, seed uint64) string {
	name := strings.NewReplacer("/", "-", " ", "_").Replace(testName)
	return filepath.Join(root, fmt.Sprintf("%s-%d", name, seed))
}

// keep writes what the run saw into dir: the history so far (replayable
// with TestReplay), why it failed, the timeline of its phases, the state
// of Redis and of each replica now, the Sentinels' events and every
// replica's output. It returns the files it wrote, or what it could not.
func (r *run) keep(dir string) (kept []string, problems []string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, []string{err.Error()}
	}
	write := func(name, body string) {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			problems = append(problems, err.Error())
			return
		}
		kept = append(kept, path)
	}
	write("failure.txt", r.failureReport())
	if r.rec != nil {
		h := r.rec.history()
		path := filepath.Join(dir, "history.json")
		if err := h.WriteFile(path); err != nil {
			problems = append(problems, err.Error())
		} else {
			kept = append(kept, path)
		}
	}
	if r.sys != nil {
		write("state.txt", r.sys.describe())
		for _, rep := range r.sys.replicas {
			if b, err := os.ReadFile(rep.log.Name()); err == nil {
				write(fmt.Sprintf("replica-%d.log", rep.index), string(b))
			}
		}
	}
	if r.events != nil {
		write("sentinel-events.log", r.events.String())
	}
	return kept, problems
}

// saveVerdict adds porcupine's visualisation of a checked history to dir.
func saveVerdict(t testing.TB, dir string, h History, v Verdict, allowLoss bool) string {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "cannot save the history: " + err.Error()
	}
	path := filepath.Join(dir, "history.json")
	if err := h.WriteFile(path); err != nil {
		return "cannot save the history: " + err.Error()
	}
	html := filepath.Join(dir, "history.html")
	if err := porcupine.VisualizePath(model(allowLoss), v.Info, html); err != nil {
		t.Logf("visualisation: %v", err)
	}
	return fmt.Sprintf("history: %s (replay: go test ./chaos -run TestReplay -args -chaos.history=%s), visualisation: %s", path, path, html)
}

// describe is the state of everything now, for a failing run's record:
// each Redis server's replication (and the Sentinels' view, or the
// Cluster's), each replica's process, readiness and partition rules.
func (s *system) describe() string {
	var b strings.Builder
	cli := func(port int, args ...string) string {
		out, err := redisCLI(port, args...)
		if err != nil {
			return fmt.Sprintf("(no answer: %v) %s", err, out)
		}
		return out
	}
	if s.sentinel == nil && s.cluster == nil {
		b.WriteString("Redis: not started (the setup failed before)\n")
	} else {
		fmt.Fprintf(&b, "Redis healthy: %s\n", orYes(s.redisHealthy()))
	}
	fmt.Fprintf(&b, "replicas ready: %s\n", orYes(s.replicasReady()))
	if s.sentinel != nil {
		for _, srv := range append([]*redistest.Server{s.sentinel.Primary}, s.sentinel.Replicas...) {
			fmt.Fprintf(&b, "\n== redis %s: INFO replication\n%s\n", srv.Addr, cli(srv.Port, "INFO", "replication"))
		}
		for _, sen := range s.sentinel.Sentinels {
			fmt.Fprintf(&b, "\n== Sentinel %s: GET-MASTER-ADDR-BY-NAME\n%s\n", sen.Addr, cli(sen.Port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.sentinel.Master))
			fmt.Fprintf(&b, "== Sentinel %s: MASTER\n%s\n", sen.Addr, pairs(cli(sen.Port, "SENTINEL", "MASTER", s.sentinel.Master)))
			fmt.Fprintf(&b, "== Sentinel %s: REPLICAS\n%s\n", sen.Addr, pairs(cli(sen.Port, "SENTINEL", "REPLICAS", s.sentinel.Master)))
		}
	}
	if s.cluster != nil {
		for _, node := range s.cluster.Nodes {
			if !node.Running() {
				fmt.Fprintf(&b, "\n== node %s: not running\n", node.Addr)
				continue
			}
			fmt.Fprintf(&b, "\n== node %s: CLUSTER INFO\n%s\n", node.Addr, cli(node.Port, "CLUSTER", "INFO"))
			fmt.Fprintf(&b, "== node %s: CLUSTER NODES\n%s\n", node.Addr, cli(node.Port, "CLUSTER", "NODES"))
			fmt.Fprintf(&b, "== node %s: INFO replication\n%s\n", node.Addr, cli(node.Port, "INFO", "replication"))
		}
	}
	for _, r := range s.replicas {
		fmt.Fprintf(&b, "\n== replica %d (%s): %s; ready: %s\n", r.index, r.base, r.processState(), orYes(r.ready()))
		rules, err := r.ns.rules()
		if err != nil {
			rules = err.Error()
		}
		fmt.Fprintf(&b, "partition rules in its namespace:\n%s\n", rules)
	}
	return b.String()
}

func orYes(missing string) string {
	if missing == "" {
		return "yes"
	}
	return "no: " + missing
}

// pairs joins a Sentinel answer's name and value lines: "flags master".
func pairs(out string) string {
	lines := strings.Split(out, "\n")
	var b strings.Builder
	for i := 0; i+1 < len(lines); i += 2 {
		if lines[i] == "name" && i > 0 {
			b.WriteString("--\n")
		}
		fmt.Fprintf(&b, "%s %s\n", lines[i], lines[i+1])
	}
	if len(lines)%2 == 1 {
		b.WriteString(lines[len(lines)-1] + "\n")
	}
	return b.String()
}
