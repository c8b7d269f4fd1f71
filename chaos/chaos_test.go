package chaos

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	duration = flag.Duration("chaos.duration", 0, "traffic under faults per topology; 0: the short run (about a minute in all)")
	seedFlag = flag.Uint64("chaos.seed", 0, "the run's seed; 0: a random one, printed")
	topology = flag.String("chaos.topology", "sentinel,cluster", "topologies to run, comma-separated")
	workers  = flag.Int("chaos.workers", 8, "concurrent sign-ins")
	out      = flag.String("chaos.out", "artifacts", "where a failing history and its visualisation are written")
	replay   = flag.String("chaos.history", "", "TestReplay: a history file a failing run wrote")
)

// short is the run in make test: every fault kind at least once per
// topology (the nemesis starts with one of each).
var short = map[Topology]time.Duration{Sentinel: 35 * time.Second, Cluster: 30 * time.Second}

// needsRoot: network namespaces and nftables need root. Outside CI the
// test is skipped without it; in CI it fails, as a missing redis-server
// does.
func needsRoot(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces)")
	}
	for _, tool := range []string{"ip", "nft", "redis-server", "redis-cli"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("the chaos run needs %s", strings.Join(missing, ", "))
	}
	t.Skipf("the chaos run needs %s", strings.Join(missing, ", "))
}

func seed(t *testing.T) uint64 {
	if *seedFlag != 0 {
		return *seedFlag
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) >> 1
}

// TestChaos runs the real binary on Redis under random faults, records
// every operation, and checks the whole history (checker_test.go).
func TestChaos(t *testing.T) {
	needsRoot(t)
	s := seed(t)
	t.Logf("seed %d (go test ./chaos -run TestChaos -args -chaos.seed=%d repeats the run's choices)", s, s)
	for _, name := range strings.Split(*topology, ",") {
		top := Topology(strings.TrimSpace(name))
		t.Run(string(top), func(t *testing.T) {
			d := *duration
			if d == 0 {
				d = short[top]
			}
			h := Run(t, Config{Topology: top, Seed: s, Duration: d, Workers: *workers, Replicas: 3})
			v := Check(h, top == Cluster, 2*time.Minute)
			t.Log(v.Report(h))
			for _, k := range faultKinds(top) {
				if v.Faults[k] == 0 {
					t.Errorf("no %s fault in the run: make it longer", k)
				}
			}
			if v.Delivered == 0 {
				t.Error("no sign-in came through: the run tested nothing")
			}
			if len(v.Violations) > 0 {
				t.Errorf("the history breaks exactly-once:\n%s\n%s", v.Report(h), saveVerdict(t, artifactDir(*out, t.Name(), h.Seed), h, v, top == Cluster))
			}
		})
	}
}

// TestChaosAutoPipelined is the Sentinel run with
// OAUTH_CALLBACK_REDIS_AUTO_PIPELINE, and without MIN_REPLICAS (whose
// takes and puts run with WAIT on the plain client, not through the
// auto-pipeliner): a take must still run once when a fault cuts a batch's
// replies off. (On Cluster, go-redis's auto-pipeliner re-sends such
// commands: the first run of this test there saw two takes answer 410 for
// codes nobody received, and the service refuses the combination.)
//
// Without WAIT, exactly once holds only while the primary stays the
// primary (docs/api.md): across a failover, a take the old primary ran
// and answered is lost with it, and the code is handed out again. A
// short run saw it (seed 7546883844987131765: a take answered 410 by the
// old primary after the Sentinels had promoted its replica, and the drain
// then got the code from the new one). So this run has no failover: the
// primary is paused past the store timeout, replicas are killed, paused
// and cut off, and nothing may be lost or handed out twice.
func TestChaosAutoPipelined(t *testing.T) {
	needsRoot(t)
	s := seed(t)
	t.Logf("seed %d (go test ./chaos -run TestChaosAutoPipelined -args -chaos.seed=%d repeats the run's choices)", s, s)
	d := *duration
	if d == 0 {
		d = short[Sentinel]
	}
	h := Run(t, Config{Topology: Sentinel, Seed: s, Duration: d, Workers: *workers, Replicas: 3, NoFailover: true,
		Env: []string{"OAUTH_CALLBACK_REDIS_AUTO_PIPELINE=true", "OAUTH_CALLBACK_REDIS_MIN_REPLICAS=0"}})
	v := Check(h, false, 2*time.Minute)
	t.Log(v.Report(h))
	if v.Delivered == 0 {
		t.Error("no sign-in came through: the run tested nothing")
	}
	if len(v.Violations) > 0 {
		t.Errorf("the history breaks exactly-once:\n%s\n%s", v.Report(h), saveVerdict(t, artifactDir(*out, t.Name(), h.Seed), h, v, false))
	}
}

// TestReplay checks a saved history again: go test -run TestReplay -args
// -chaos.history=<file>.
func TestReplay(t *testing.T) {
	if *replay == "" {
		t.Skip("no -chaos.history given")
	}
	h, err := ReadHistory(*replay)
	if err != nil {
		t.Fatal(err)
	}
	v := Check(h, h.Topology == Cluster, 2*time.Minute)
	t.Log(v.Report(h))
	if len(v.Violations) > 0 {
		t.Errorf("the history breaks exactly-once")
	}
}

// TestTheCheckerCatchesBrokenBuilds: the same run against a build whose
// take hands the code out and leaves it, and one whose callback
// overwrites, fails the checker. Without faults: the bug alone must be
// seen. Both break step.lua, the one script every change goes through.
func TestTheCheckerCatchesBrokenBuilds(t *testing.T) {
	needsRoot(t)
	type patch struct{ from, to string }
	for name, broken := range map[string]struct {
		script  string
		patches []patch
	}{
		"a take that does not delete": {"step.lua", []patch{
			{"local ok = redis.pcall('RENAME', ", "local ok = {} redis.pcall('COPY', "},                   // the sealed callback stays
			{"for i = 1, n do\n  if ttl > 0", "for i = 1, n * (renames > 0 and 0 or 1) do\n  if ttl > 0"}, // and so does its record
		}},
		"a callback that overwrites": {"step.lua", []patch{
			{"if (current or NONE) ~= expected then return {CHANGED, current} end", "-- whatever the record is now"},
		}},
	} {
		t.Run(name, func(t *testing.T) {
			script := filepath.Join("..", "internal", "callback", "redisstore", "scripts", broken.script)
			src, err := os.ReadFile(script)
			if err != nil {
				t.Fatal(err)
			}
			text := string(src)
			for _, p := range broken.patches {
				if !strings.Contains(text, p.from) {
					t.Fatalf("%s no longer has %q: update this test", script, p.from)
				}
				text = strings.Replace(text, p.from, p.to, 1)
			}
			dir := t.TempDir()
			patched := filepath.Join(dir, broken.script)
			if err := os.WriteFile(patched, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			abs, err := filepath.Abs(script)
			if err != nil {
				t.Fatal(err)
			}
			overlay, _ := json.Marshal(map[string]map[string]string{"Replace": {abs: patched}})
			overlayPath := filepath.Join(dir, "overlay.json")
			if err := os.WriteFile(overlayPath, overlay, 0o600); err != nil {
				t.Fatal(err)
			}
			h := Run(t, Config{Topology: Sentinel, Seed: seed(t), Duration: 8 * time.Second, Workers: 8, Replicas: 2, Overlay: overlayPath, NoFaults: true})
			v := Check(h, false, time.Minute)
			t.Log(v.Report(h))
			if len(v.Violations) == 0 {
				t.Errorf("the checker passed a build with %s", name)
			}
		})
	}
}
