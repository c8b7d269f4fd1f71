// Command loadbench measures oauth-callback-server on this machine, against
// a bare net/http handler measured in the same run, and prints the results
// as Markdown (see docs/benchmarks.md). It needs wrk and redis-server, and
// sends traffic only to 127.0.0.1.
//
//	go build -o bin/oauth-callback-server ./cmd/oauth-callback-server
//	go -C bench run ./loadbench   (bench is a module of its own)
package main

import (
	"bufio"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed cycle.lua
var cycleScript string

//go:embed poll.lua
var pollScript string

var (
	binPath     = flag.String("bin", "../bin/oauth-callback-server", "the service binary (the default is the one make build writes, seen from bench/)")
	duration    = flag.Duration("duration", 10*time.Second, "length of each wrk run")
	connections = flag.Int("connections", 64, "wrk connections")
	threads     = flag.Int("threads", 2, "wrk threads")
	rounds      = flag.Int("rounds", 3, "wrk runs per server; the median is reported")
	wakeCycles  = flag.Int("wake-cycles", 1000, "long-poll cycles for the wake latency")
	pending     = flag.Int("pending", 100_000, "pending callbacks for the memory figures")
	bareServer  = flag.String("bare-server", "", "internal: serve the bare handler on this address")
	leastServer = flag.String("least-work-server", "", "internal: serve the least-work reference (net/http + go-redis) on this address")
	leastRedis  = flag.String("least-work-redis", "", "internal: the Redis of -least-work-server")
	soakFor     = flag.Duration("soak", 0, "instead of the benchmark: a soak run of this length (make soak)")
	soakRate    = flag.Int("soak-rate", 200, "sign-ins per second during the soak run")
	floodCount  = flag.Int("flood", 0, "instead of the benchmark: flood each store with this many of the largest callbacks and report memory")
	held        = flag.Int("capacity", 10_000, "long-polls held for the capacity figures")
	wakeRate    = flag.Int("wake-rate", 1000, "capacity section: wake-ups sent a second, each at its time; 0: -wake-senders senders, as fast as answered")
	wakeSenders = flag.Int("wake-senders", 2, "capacity section with -wake-rate 0: how many senders wake the held long-polls, each one wake-up at a time")
	plotsDir    = flag.String("plots", "", "write SVG charts of the run's figures into this directory (make bench: docs)")
	only        = flag.String("only", "", "comma-separated sections to run: capacity, pollstorm, cycle, cluster, wake, memory, instructions; empty: all")
	serviceEnv  envList
)

func init() {
	flag.Var(&serviceEnv, "env", "KEY=VALUE added to the environment of every replica of the service the run starts, after the section's own (repeatable): to measure a setting")
}

// envList is a repeatable KEY=VALUE flag.
type envList []string

func (e *envList) String() string { return strings.Join(*e, " ") }

func (e *envList) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("%q: want KEY=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}

func main() {
	flag.Parse()
	if *bareServer != "" {
		// The baseline: net/http answering 200 with an empty body, and
		// holding requests for the capacity run.
		fmt.Fprintln(os.Stderr, serveBare(*bareServer))
		os.Exit(1)
	}
	if *leastServer != "" {
		fmt.Fprintln(os.Stderr, serveLeastWork(*leastServer, *leastRedis))
		os.Exit(1)
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
	if *plotsDir != "" {
		files, err := writePlots(*plotsDir, machine())
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadbench:", err)
			os.Exit(1)
		}
		fmt.Printf("\nCharts: %s\n", strings.Join(files, ", "))
	}
}

// machine names the machine for the charts: cores and Go version.
func machine() string {
	return fmt.Sprintf("%d cores, %s", runtime.NumCPU(), runtime.Version())
}

func run() error {
	dir, err := os.MkdirTemp("", "loadbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	script, err := writeScript(dir, "cycle.lua", cycleScript)
	if err != nil {
		return err
	}
	var procs procList
	defer procs.stopAll()
	if *soakFor > 0 {
		return soak(&procs, dir, *soakFor, *soakRate)
	}
	if *floodCount > 0 {
		return flood(&procs, dir, *floodCount)
	}

	redisAddr, err := procs.startRedis(dir)
	if err != nil {
		return err
	}
	if section("capacity") {
		if err := capacity(redisAddr, *held); err != nil {
			return err
		}
	}
	if section("pollstorm") {
		if err := pollStorm(&procs, dir, redisAddr); err != nil {
			return err
		}
	}
	if section("cycle") {
		if err := cycles(&procs, script, redisAddr); err != nil {
			return err
		}
	}
	if section("cluster") {
		if err := clusterCycles(&procs, dir, script); err != nil {
			return err
		}
	}
	if section("wake") {
		if err := wake(&procs, redisAddr); err != nil {
			return err
		}
	}
	if section("memory") {
		if err := memory(&procs, redisAddr); err != nil {
			return err
		}
	}
	if section("instructions") {
		if err := instructions(&procs, dir); err != nil {
			return err
		}
	}
	return nil
}

// cycles measures callback + take cycles on every server, with the CPU
// each costs and the Redis commands a cycle makes.
func cycles(procs *procList, script, redisAddr string) error {

	self, err := os.Executable()
	if err != nil {
		return err
	}
	bareAddr := freeAddr()
	if err := procs.start(nil, self, "-bare-server", bareAddr); err != nil {
		return err
	}
	barePID := procs.lastPID()
	if err := waitHTTP("http://" + bareAddr + "/"); err != nil {
		return err
	}
	leastAddr, leastPID, err := startLeastWork(procs, self, redisAddr)
	if err != nil {
		return err
	}
	// Every cycle leaves a tombstone for the TTL: at thousands of cycles a
	// second the default bound (100 000) would fill within the run.
	memAddr, memPID, err := procs.startServiceWithPID(map[string]string{"OAUTH_CALLBACK_MAX_ENTRIES": "50000000", "OAUTH_CALLBACK_MAX_MEMORY": unboundedBudget})
	if err != nil {
		return err
	}
	redisSvcAddr, redisSvcPID, err := procs.startServiceWithPID(map[string]string{"OAUTH_CALLBACK_REDIS_URL": "redis://" + redisAddr})
	if err != nil {
		return err
	}
	// The same with the rate limits on and counted in Redis (one GCRA
	// script call per request), set high enough that nothing is refused:
	// what holding limits across replicas costs.
	limitedAddr, limitedPID, err := procs.startServiceWithPID(map[string]string{"OAUTH_CALLBACK_REDIS_URL": "redis://" + redisAddr,
		"OAUTH_CALLBACK_RATE_LIMIT_CALLBACK": "1000000", "OAUTH_CALLBACK_RATE_LIMIT_API": "1000000"})
	if err != nil {
		return err
	}

	// Rounds interleave the servers so that drift in the machine's speed
	// hits all of them alike; each figure is the median round.
	targets := []target{
		{"bare net/http handler", bareAddr, cpuMeter{pid: barePID}},
		{"least work: net/http + go-redis, SET NX EX and GETDEL", leastAddr, cpuMeter{leastPID, redisAddr}},
		{"oauth-callback-server, memory store", memAddr, cpuMeter{pid: memPID}},
		{"oauth-callback-server, Redis store", redisSvcAddr, cpuMeter{redisSvcPID, redisAddr}},
		{"oauth-callback-server, Redis store, rate limits shared on Redis", limitedAddr, cpuMeter{limitedPID, redisAddr}},
	}
	results, err := wrkRounds(script, targets, "r", *threads, *connections)
	if err != nil {
		return err
	}
	fmt.Printf("## Cycle throughput (wrk -t%d -c%d -d%s, %d rounds; one cycle = callback + take, pipelined)\n\n", *threads, *connections, *duration, *rounds)
	printRates(results, targets, "cycles", 2)
	for i := range throughputServers {
		recordThroughput(throughputPaths[1], throughputServers[i], median(results[i]).rps/2)
	}
	fmt.Printf("\nRedis store / least work: %s (cycles, one run: `go -C bench run ./loadbench -only cycle`).\n",
		versus(results[3], results[1], 2))
	fmt.Printf("Redis store with shared rate limits / without: %.2f× (cycles, same run).\n",
		median(results[4]).rps/median(results[3]).rps)
	least, err := commandsPerCycle(redisAddr, leastAddr, "least", 1000)
	if err != nil {
		return err
	}
	service, err := commandsPerCycle(redisAddr, redisSvcAddr, "service", 1000)
	if err != nil {
		return err
	}
	fmt.Printf("Redis commands per cycle (a script's counted one by one; INFO commandstats over 1 000 cycles): least work %.1f, Redis store %.1f.\n", least, service)

	return nil
}

// wake measures the wake latency across two replicas on one Redis.
func wake(procs *procList, redisAddr string) error {
	replicaA, err := procs.startService(map[string]string{"OAUTH_CALLBACK_REDIS_URL": "redis://" + redisAddr})
	if err != nil {
		return err
	}
	// Wake latency across replicas: waiter on B, callback on A.
	replicaB, err := procs.startService(map[string]string{"OAUTH_CALLBACK_REDIS_URL": "redis://" + redisAddr})
	if err != nil {
		return err
	}
	lat, err := wakeLatency(replicaA, replicaB, *wakeCycles)
	if err != nil {
		return err
	}
	figures.wake = lat
	fmt.Printf("\n## Wake latency, callback received on replica A → long-poll answered on replica B (Redis), %d cycles\n\n", len(lat))
	fmt.Printf("| p50 | p90 | p99 | max |\n|---|---|---|---|\n| %v | %v | %v | %v |\n",
		pct(lat, 50), pct(lat, 90), pct(lat, 99), lat[len(lat)-1])

	return nil
}

type wrkResult struct {
	rps    float64
	non2xx int
	// requests is wrk's count of answers; serverCPU and redisCPU the CPU
	// seconds the server and its Redis spent on them; steal the share of
	// the machine's time the hypervisor gave to other guests meanwhile.
	requests            float64
	serverCPU, redisCPU float64
	steal               float64
}

// cpuPer is the server's and its Redis's CPU per answer, in microseconds.
func (r wrkResult) cpuPer() (server, redis float64) {
	if r.requests == 0 {
		return 0, 0
	}
	return 1e6 * r.serverCPU / r.requests, 1e6 * r.redisCPU / r.requests
}

func median(rs []wrkResult) wrkResult {
	return medianBy(rs, func(r wrkResult) float64 { return r.rps })
}

// medianBy is the middle one of rs by key.
func medianBy[T any](rs []T, key func(T) float64) T {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	return s[len(s)/2]
}

var (
	rpsRe    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	countRe  = regexp.MustCompile(`(\d+) requests in`)
	non2xxRe = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	errorsRe = regexp.MustCompile(`Socket errors:.*`)
)

// target is a server under load: its name in the tables, where it
// listens, and how to read its CPU (and its Redis's).
type target struct {
	name, addr string
	cpu        cpuMeter
}

// wrkRounds runs wrk against each target, rounds times, interleaved, and
// returns each target's results.
func wrkRounds(script string, targets []target, tag string, threads, connections int) ([][]wrkResult, error) {
	results := make([][]wrkResult, len(targets))
	for round := range *rounds {
		for i, tg := range targets {
			r, err := wrkWith(script, tg, fmt.Sprintf("%s%d-%d-", tag, round, i), threads, connections)
			if err != nil {
				return nil, err
			}
			results[i] = append(results[i], r)
		}
	}
	return results, nil
}

func wrkWith(script string, tg target, run string, threads, connections int) (wrkResult, error) {
	before, err := tg.cpu.read()
	if err != nil {
		return wrkResult{}, err
	}
	// #nosec G204 -- wrk with our own arguments, against loopback.
	out, err := exec.Command("wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(connections),
		"-d", duration.String(), "-s", script, "http://"+tg.addr, "--", run+strconv.FormatInt(time.Now().UnixNano(), 36)).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	after, err := tg.cpu.read()
	if err != nil {
		return wrkResult{}, err
	}
	m := rpsRe.FindSubmatch(out)
	if m == nil {
		return wrkResult{}, fmt.Errorf("wrk printed no Requests/sec:\n%s", out)
	}
	var r wrkResult
	r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	if m := non2xxRe.FindSubmatch(out); m != nil {
		r.non2xx, _ = strconv.Atoi(string(m[1]))
	}
	if m := countRe.FindSubmatch(out); m != nil {
		r.requests, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	r.serverCPU, r.redisCPU = after.server-before.server, after.redis-before.redis
	r.steal = stealShare(before.machine, after.machine)
	if m := errorsRe.Find(out); m != nil {
		fmt.Fprintf(os.Stderr, "%s: %s\n", tg.addr, m)
	}
	return r, nil
}

// wakeLatency runs n long-poll cycles: a waiter on b, then the callback on
// a once b reports the waiter; latency is from received_at (stamped by a
// just before storing) to b's answer reaching the client.
func wakeLatency(a, b string, n int) ([]time.Duration, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	var lat []time.Duration
	for i := range n {
		state := fmt.Sprintf("wake-%d-%d", time.Now().UnixNano(), i)
		type answer struct {
			at         time.Time
			receivedAt time.Time
			err        error
		}
		done := make(chan answer, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodGet, "http://"+b+"/api/callback/"+state, nil)
			req.Header.Set("Prefer", "wait=10")
			resp, err := client.Do(req)
			if err != nil {
				done <- answer{err: err}
				return
			}
			var body struct {
				ReceivedAt time.Time `json:"received_at"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			at := time.Now()
			_ = resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("waiter got %d", resp.StatusCode)
			}
			done <- answer{at: at, receivedAt: body.ReceivedAt, err: err}
		}()
		if err := waitForWaiter(client, b); err != nil {
			return nil, err
		}
		resp, err := client.Get("http://" + a + "/callback?code=c&state=" + state)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		ans := <-done
		if ans.err != nil {
			return nil, ans.err
		}
		lat = append(lat, ans.at.Sub(ans.receivedAt))
	}
	slices.Sort(lat)
	return lat, nil
}

// waitForWaiter polls b's metrics until its long-poll is registered, so the
// callback is not sent before anyone waits for it.
func waitForWaiter(client *http.Client, b string) error {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get("http://" + b + "/metrics")
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(resp.Body)
		found := false
		for sc.Scan() {
			if sc.Text() == "oauth_callback_waiters 1" {
				found = true
			}
		}
		_ = resp.Body.Close()
		if found {
			return nil
		}
		time.Sleep(200 * time.Microsecond)
	}
	return errors.New("the waiter never registered")
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(len(sorted)-1, i-1))].Round(time.Microsecond)
}

func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS")
}

func redisUsedMemory(addr string) (int64, error) {
	info, err := redisCmd(addr, "INFO", "memory")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("no used_memory")
}

func redisCmd(addr string, args ...string) (string, error) {
	// #nosec G204 -- redis-cli with our own arguments, against loopback.
	out, err := exec.Command("redis-cli", append([]string{"-u", "redis://" + addr}, args...)...).Output()
	return strings.TrimSpace(string(out)), err
}

// procList starts processes and stops them all at the end.
type procList struct{ cmds []*exec.Cmd }

func (p *procList) start(env []string, name string, args ...string) error {
	// #nosec G204 -- the service binary, redis-server or ourselves; our arguments.
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		return err
	}
	p.cmds = append(p.cmds, cmd)
	return nil
}

// lastPID is the process start last started.
func (p *procList) lastPID() int { return p.cmds[len(p.cmds)-1].Process.Pid }

func (p *procList) stopAll() {
	for _, c := range p.cmds {
		_ = c.Process.Kill()
		_ = c.Wait()
	}
}

func (p *procList) startRedis(dir string) (string, error) {
	addr := freeAddr()
	_, port, _ := net.SplitHostPort(addr)
	if err := p.start(nil, "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir); err != nil {
		return "", err
	}
	return addr, waitRedis(addr)
}

// waitRedis waits up to 10 s for the redis-server at addr to answer PING.
func waitRedis(addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if out, err := redisCmd(addr, "PING"); err == nil && out == "PONG" {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("redis-server at %s did not start", addr)
}

func (p *procList) startService(env map[string]string) (string, error) {
	addr, _, err := p.startServiceWithPID(env)
	return addr, err
}

// unboundedBudget is OAUTH_CALLBACK_MAX_MEMORY for the runs that keep more
// than the default 64 MiB: the cycle's tombstones, 100 000 pending
// callbacks. They measure throughput and bytes, not the budget (which has
// tests and the flood figures of its own).
const unboundedBudget = "8GiB"

// startServiceWithPID runs the service as operators do: default settings,
// JSON logs at info (to /dev/null here); drain delay and rate limits off.
func (p *procList) startServiceWithPID(env map[string]string) (string, int, error) {
	addr := freeAddr()
	host, port, _ := net.SplitHostPort(addr)
	vars := []string{"OAUTH_CALLBACK_HOST=" + host, "OAUTH_CALLBACK_PORT=" + port, "OAUTH_CALLBACK_DRAIN_DELAY=0",
		// All load comes from one address: the per-IP limits would stop it.
		"OAUTH_CALLBACK_RATE_LIMIT_CALLBACK=0", "OAUTH_CALLBACK_RATE_LIMIT_API=0", "OAUTH_CALLBACK_RATE_LIMIT_REGISTER=0"}
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	vars = append(vars, serviceEnv...) // the last of a name wins
	if err := p.start(vars, *binPath); err != nil {
		return "", 0, err
	}
	if err := waitHTTP("http://" + addr + "/readyz"); err != nil {
		return "", 0, err
	}
	return addr, p.lastPID(), nil
}

func waitHTTP(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		resp, err := http.Get(url) // #nosec G107 -- a loopback address we started
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready", url)
}

// section reports whether -only asks for the named section.
func section(name string) bool {
	return *only == "" || slices.Contains(strings.Split(*only, ","), name)
}

func writeScript(dir, name, content string) (string, error) {
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, []byte(content), 0o600)
}

func executable() (string, error) { return os.Executable() }

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}
