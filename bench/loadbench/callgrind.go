package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// A redis-server run under valgrind's callgrind: what Redis itself
// executes, counted in instructions. Unlike a rate or a CPU time, the
// count of a fixed sequence of operations does not move with the
// machine's load, so a figure measured here can be compared with one
// measured on another day or machine, and a change to the store shows up
// to the per cent.

// cronFunction is Redis's timer callback. With --hz 1 it runs once a
// second, and each run costs about 120 000 instructions (most of it
// cronUpdateMemoryStats asking jemalloc for its statistics): work that
// follows the clock, not the operations, so a slower run (a busy machine)
// would count more of it. Each count leaves it out.
const cronFunction = "serverCron"

// callgrindRedis is a redis-server under callgrind, zeroed and dumped on
// demand with callgrind_control.
type callgrindRedis struct {
	addr, dir string
	pid       int
	cmd       *exec.Cmd
	exited    chan struct{} // closed once the process has ended
	dumps     int           // dumps taken so far: the next one is callgrind.out.<dumps+1>
}

// callgrindCount is one dump: Redis's instructions since the last zero,
// the part of them its timer spent, and, by function, its calls and their
// inclusive cost (what the function and everything it called executed).
type callgrindCount struct {
	instructions, cron int64
	callees            map[string]calleeCost
}

// calleeCost is what the calls of one function cost, summed over its
// callers. For a function that never runs inside itself (a command's
// implementation, evalShaCommand, scriptCall) that is what it cost in
// all; a recursive one's nested calls would count twice, and callgrind
// names those apart (name'2), so they are not summed with it.
type calleeCost struct {
	calls, inclusive int64
}

// callee is fn's calls and inclusive cost in the dump; zero if none.
func (c callgrindCount) callee(fn string) calleeCost { return c.callees[fn] }

// opInstructions is the instructions the operations cost: all of them but
// the timer's.
func (c callgrindCount) opInstructions() int64 { return c.instructions - c.cron }

// haveCallgrind reports whether valgrind and callgrind_control are on PATH.
func haveCallgrind() error {
	for _, tool := range []string{"valgrind", "callgrind_control"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed (apt-get install valgrind)", tool)
		}
	}
	return nil
}

// startCallgrindRedis starts redis-server under callgrind in dir, with its
// timer at once a second (--hz 1), no persistence, no rehashing by the
// timer and no slow log, and waits until it answers: under valgrind it
// starts and runs about 50 times slower.
func (p *procList) startCallgrindRedis(dir string) (*callgrindRedis, error) {
	addr := freeAddr()
	_, port, _ := net.SplitHostPort(addr)
	if err := p.start(nil, "valgrind", "--tool=callgrind",
		"--callgrind-out-file="+filepath.Join(dir, "callgrind.out"),
		// Names and positions in full: the dump is read below by a
		// plain scan, without callgrind's name table.
		"--compress-strings=no", "--compress-pos=no",
		"--log-file="+filepath.Join(dir, "valgrind.log"),
		// vgdb's pipes (callgrind_control's way in) in dir, not /tmp:
		// removed with it, however the process ends.
		"--vgdb-prefix="+filepath.Join(dir, "vgdb"),
		// --activerehashing no: a growing table is then rehashed by
		// the commands alone, a step each, as many as the sequence of
		// commands makes, not by the timer for a millisecond a second,
		// which would leave the commands a share that follows the clock.
		// --slowlog-log-slower-than -1: under valgrind a command takes
		// 50 times as long, and on a busy machine more of them pass the
		// slow log's 10 ms, each then copied into it.
		"redis-server", "--hz", "1", "--activerehashing", "no", "--slowlog-log-slower-than", "-1", "--save", "", "--appendonly", "no",
		"--port", port, "--bind", "127.0.0.1", "--dir", dir); err != nil {
		return nil, fmt.Errorf("start redis-server under valgrind: %w", err)
	}
	c := &callgrindRedis{addr: addr, dir: dir, pid: p.lastPID(), cmd: p.cmds[len(p.cmds)-1], exited: make(chan struct{})}
	go func() {
		_ = c.cmd.Wait()
		close(c.exited)
	}()
	log := filepath.Join(dir, "valgrind.log")
	deadline := time.Now().Add(3 * time.Minute)
	for {
		info, err := redisCmd(addr, "INFO", "server")
		switch {
		// valgrind runs the program in its own process: INFO's
		// process_id is the one started, unless another Redis
		// answers on the port.
		case err == nil && infoField(info, "process_id") == strconv.Itoa(c.pid):
			return c, nil
		case err == nil:
			c.stop()
			return nil, fmt.Errorf("%s is answered by another redis-server than the one started (pid %d)", addr, c.pid)
		case time.Now().After(deadline):
			c.stop()
			return nil, fmt.Errorf("redis-server under valgrind did not answer on %s within 3 minutes (see %s)", addr, log)
		}
		select {
		case <-c.exited:
			out, _ := os.ReadFile(log) // #nosec G304 -- valgrind's log in our temporary directory
			return nil, fmt.Errorf("redis-server under valgrind exited at start: %s", out)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stop ends Redis with SIGTERM and waits for it, so that valgrind ends
// cleanly; after 30 s it kills it. procList.stopAll then finds it ended.
func (c *callgrindRedis) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// control runs callgrind_control with one action on this Redis; it
// returns once callgrind has carried it out.
func (c *callgrindRedis) control(action string) error {
	// #nosec G204 -- callgrind_control with our own arguments.
	out, err := exec.Command("callgrind_control", "--vgdb-prefix="+filepath.Join(c.dir, "vgdb"), action, strconv.Itoa(c.pid)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		return fmt.Errorf("callgrind_control %s %d: %v\n%s", action, c.pid, err, out)
	}
	return nil
}

// zero resets the counters: the next dump counts from here.
func (c *callgrindRedis) zero() error { return c.control("-z") }

// dump writes the counters since the last zero (or dump) and reads them.
func (c *callgrindRedis) dump() (callgrindCount, error) {
	if err := c.control("-d"); err != nil {
		return callgrindCount{}, err
	}
	c.dumps++
	return readCallgrindDump(filepath.Join(c.dir, fmt.Sprintf("callgrind.out.%d", c.dumps)))
}

// readCallgrindDump reads a dump written with --compress-strings=no: the
// instructions are its "summary:" line, and the timer's share the
// inclusive cost of every call of cronFunction. callgrind writes two
// totals: "summary:", its count since the zero (callgrind_annotate's
// PROGRAM TOTALS), and "totals:", the sum of the dump's cost lines. After
// callgrind_control -z they disagree: "totals:" came out 0.05-0.1 % higher
// in most windows here, up to 2.5 % in the first few after Redis started
// and 45 % in the very first, while "summary:" repeated within 0.4 %.
func readCallgrindDump(path string) (callgrindCount, error) {
	f, err := os.Open(path) // #nosec G304 -- the dump callgrind wrote in our temporary directory
	if err != nil {
		return callgrindCount{}, fmt.Errorf("read the callgrind dump: %w", err)
	}
	defer f.Close()
	var (
		count      = callgrindCount{callees: map[string]calleeCost{}}
		summary    bool
		callee     string // the last cfn= line's function
		calls      int64  // the last calls= line's count
		costOfCall bool   // the next cost line is a call's inclusive cost
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "summary:"):
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "summary:")), 10, 64)
			if err != nil {
				return callgrindCount{}, fmt.Errorf("%s: %q: %w", path, line, err)
			}
			count.instructions, summary = n, true
		case strings.HasPrefix(line, "cfn="):
			callee = strings.TrimPrefix(line, "cfn=")
		case strings.HasPrefix(line, "calls="):
			// "calls=<count> <target position>"
			fields := strings.Fields(strings.TrimPrefix(line, "calls="))
			if len(fields) == 0 {
				return callgrindCount{}, fmt.Errorf("%s: %q: no call count", path, line)
			}
			n, err := strconv.ParseInt(fields[0], 10, 64)
			if err != nil {
				return callgrindCount{}, fmt.Errorf("%s: %q: %w", path, line, err)
			}
			calls, costOfCall = n, true
		case costOfCall:
			// "<position> <Ir>": the only event is Ir.
			costOfCall = false
			fields := strings.Fields(line)
			if len(fields) < 2 {
				return callgrindCount{}, fmt.Errorf("%s: cost of a call of %s: %q", path, callee, line)
			}
			n, err := strconv.ParseInt(fields[len(fields)-1], 10, 64)
			if err != nil {
				return callgrindCount{}, fmt.Errorf("%s: cost of a call of %s: %q: %w", path, callee, line, err)
			}
			c := count.callees[callee]
			c.calls += calls
			c.inclusive += n
			count.callees[callee] = c
			if callee == cronFunction {
				count.cron += n
			}
		}
	}
	if err := sc.Err(); err != nil {
		return callgrindCount{}, fmt.Errorf("%s: %w", path, err)
	}
	if !summary {
		return callgrindCount{}, errors.New(path + ": no summary: line")
	}
	return count, nil
}

// residentKeys is how many keys fillResident stores: past 32 768, so
// Redis's tables have grown to 65 536 buckets, with room for the keys the
// run adds (about one per service cycle today, some 6 000 in all) before
// they would grow again. The section reports a run that grew them.
const residentKeys = 40_000

// residentTable is the bucket count of Redis's tables once they hold
// residentKeys keys: a database larger than this grew during the run.
const residentTable = 65_536

// fillResident stores residentKeys pending sign-ins of the least-work
// shape (SET EX 3600) under a prefix of their own, so that the counts are
// of a Redis that holds keys, as one in use does. On an empty database a
// lookup of a missing key costs no hash at all (a GETDEL of a state nobody
// stored: about 4 800 instructions empty, 5 600 with keys), so the first
// workload counted would look cheaper than the rest.
//
// Then it looks every key up once (EXISTS): each lookup moves the growing
// tables' rehashing on by a step (the timer does not, --activerehashing
// no), and 40 000 steps finish the last growth's 32 768 buckets, so no
// count pays for rehashing the fill's keys.
func fillResident(addr string) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: time.Minute, WriteTimeout: time.Minute})
	defer rdb.Close()
	ctx := context.Background()
	value := strings.Repeat("c", 64)
	for _, store := range []bool{true, false} {
		for start := 0; start < residentKeys; start += 1000 {
			pipe := rdb.Pipeline()
			for i := start; i < min(start+1000, residentKeys); i++ {
				key := fmt.Sprintf("resident:%043d", i)
				if store {
					pipe.Set(ctx, key, value, time.Hour)
				} else {
					pipe.Exists(ctx, key)
				}
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return fmt.Errorf("store the resident keys: %w", err)
			}
		}
	}
	return nil
}
