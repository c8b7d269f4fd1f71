package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// The instructions section: what Redis executes per operation, for the
// least-work reference and for the service, on one Redis under callgrind
// in one run (issue 34's targets: a 404 poll ≤ 1.5× the least work, a
// sign-in cycle ≤ 4×, a cycle with eight subscribed replicas ≤ 1.1× one).

var (
	instrWarmup = flag.Int("instructions-warmup", 200, "instructions section: operations before the counters are zeroed")
	instrOps    = flag.Int("instructions-ops", 1000, "instructions section: operations counted")
)

// instrCode is a code like a provider's, the same length for every server.
const instrCode = "bench-code-0123456789abcdef"

// operation is one operation of a workload, on a state of its own: every
// request it makes must get the status it expects, or the count would
// be of something else (an error page, a refusal).
type operation func(c *http.Client, addr, state string) error

// poll404 is a take of a state nobody stored: the field client's poll
// before the person has signed in.
func poll404(c *http.Client, addr, state string) error {
	return expect(c, http.MethodGet, "http://"+addr+"/api/callback/"+state, http.StatusNotFound)
}

// signInCycle is the provider's redirect and the MCP server's take.
func signInCycle(c *http.Client, addr, state string) error {
	if err := expect(c, http.MethodGet, "http://"+addr+"/callback?code="+instrCode+"&state="+state, http.StatusOK); err != nil {
		return err
	}
	return expect(c, http.MethodGet, "http://"+addr+"/api/callback/"+state, http.StatusOK)
}

// registeredCycle registers the state first (PUT, no body), then the
// cycle.
func registeredCycle(c *http.Client, addr, state string) error {
	if err := expect(c, http.MethodPut, "http://"+addr+"/api/callback/"+state, http.StatusCreated); err != nil {
		return err
	}
	return signInCycle(c, addr, state)
}

// expect sends one request and checks its status, reading the body so
// that the connection is reused.
func expect(c *http.Client, method, url string, want int) error {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d, want %d", method, url, resp.StatusCode, want)
	}
	return nil
}

// instrCount is one workload's count on one server.
type instrCount struct {
	perOp, commandsPerOp float64
	cron                 int64         // the timer's instructions, left out
	elapsed              time.Duration // how long the counted operations took
	background           []string      // what no operation sends, if any came: PINGs, new connections
	ops                  float64       // operations counted
	dump                 callgrindCount
	calls                map[string]int // INFO commandstats over the window
}

// countInstructions runs op on the server at addr: warm-up operations,
// then the counters zeroed, then the counted ones one after another on one
// keep-alive connection, then the dump. Sequential, because the count per
// operation hardly depends on concurrency (Redis runs one command at a
// time; only the batching of replies in one write changes), and one
// connection is what a poller or a cycle uses.
func countInstructions(cg *callgrindRedis, addr, tag string, op operation) (instrCount, error) {
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	run := fmt.Sprintf("%s-%d", tag, time.Now().UnixNano())
	for i := range *instrWarmup {
		if err := op(client, addr, fmt.Sprintf("%s-w%06d-0123456789abcdef0123", run, i)); err != nil {
			return instrCount{}, fmt.Errorf("%s, warm-up: %w", tag, err)
		}
	}
	if _, err := redisCmd(cg.addr, "CONFIG", "RESETSTAT"); err != nil {
		return instrCount{}, err
	}
	if err := cg.zero(); err != nil {
		return instrCount{}, err
	}
	start := time.Now()
	for i := range *instrOps {
		if err := op(client, addr, fmt.Sprintf("%s-c%06d-0123456789abcdef0123", run, i)); err != nil {
			return instrCount{}, fmt.Errorf("%s: %w", tag, err)
		}
	}
	elapsed := time.Since(start)
	count, err := cg.dump()
	if err != nil {
		return instrCount{}, err
	}
	// One INFO, on one connection, for the window's commands and the
	// connections opened in it: that INFO's own is the one expected.
	info, err := redisCmd(cg.addr, "INFO", "all")
	if err != nil {
		return instrCount{}, err
	}
	calls, err := parseCommandCalls(info)
	if err != nil {
		return instrCount{}, err
	}
	connections, err := strconv.Atoi(infoField(info, "total_connections_received"))
	if err != nil {
		return instrCount{}, fmt.Errorf("INFO stats: total_connections_received: %w", err)
	}
	// What no operation sends: the subscriptions' health-check PINGs,
	// and connections opened (a client's reconnect, with its HELLO):
	// each is counted, and said.
	var background []string
	if n := calls["ping"]; n > 0 {
		background = append(background, fmt.Sprintf("%d PING", n))
	}
	if opened := connections - 1; opened > 0 {
		background = append(background, fmt.Sprintf("%d connections opened", opened))
	}
	n := float64(*instrOps)
	return instrCount{
		perOp:         float64(count.opInstructions()) / n,
		commandsPerOp: float64(countedCommands(calls)) / n,
		cron:          count.cron,
		elapsed:       elapsed,
		background:    background,
		ops:           n,
		dump:          count,
		calls:         calls,
	}, nil
}

// instructions is the section: Redis's instructions per operation under
// callgrind, least work against the service. Without valgrind it says so
// and does nothing, except in CI, where a missing tool is a broken setup.
func instructions(procs *procList, dir string) error {
	fmt.Printf("\n## Redis instructions per operation (callgrind)\n\n")
	if err := haveCallgrind(); err != nil {
		if os.Getenv("CI") != "" {
			return fmt.Errorf("the instructions section: %w", err)
		}
		fmt.Printf("Skipped: %v.\n", err)
		return nil
	}
	cgDir, err := os.MkdirTemp(dir, "callgrind")
	if err != nil {
		return err
	}
	cg, err := procs.startCallgrindRedis(cgDir)
	if err != nil {
		return err
	}
	defer cg.stop()
	if err := fillResident(cg.addr); err != nil {
		return err
	}
	version, err := redisVersion(cg.addr)
	if err != nil {
		return err
	}
	self, err := executable()
	if err != nil {
		return err
	}
	leastAddr, _, err := startLeastWork(procs, self, cg.addr)
	if err != nil {
		return err
	}
	// The service as operators run it (startServiceWithPID): default
	// settings, no long-poll, so no subscription and nothing in the
	// background.
	svcAddr, err := procs.startService(map[string]string{"OAUTH_CALLBACK_REDIS_URL": "redis://" + cg.addr})
	if err != nil {
		return err
	}

	type row struct {
		workload, reference string
		ref, svc            *instrCount
		target              float64 // 0: none
	}
	var rows []row
	measure := func(addr, tag string, op operation) (*instrCount, error) {
		c, err := countInstructions(cg, addr, tag, op)
		return &c, err
	}
	var refPoll, svcPoll, refCycle, svcYoung, svcCycle, svcRegistered *instrCount
	if refPoll, err = measure(leastAddr, "least-poll", poll404); err != nil {
		return err
	}
	if svcPoll, err = measure(svcAddr, "service-poll", poll404); err != nil {
		return err
	}
	if refCycle, err = measure(leastAddr, "least-cycle", signInCycle); err != nil {
		return err
	}
	// The partitions' budgets are hashes that gain two fields (a part by
	// the second its bytes stop counting) for every second with a
	// sign-in, and lose them once that second has passed: up to about
	// 1 200 each after ten minutes of steady traffic. Redis keeps a hash
	// of up to 128 fields as a listpack, which HINCRBY and HMGET search
	// from its start, and a larger one as a hash table: so the budget's
	// commands cost more as a run ages, until its budgets pass 128
	// fields. The first count is of budgets a few seconds old (small
	// listpacks); every later one of budgets as a Redis under steady
	// traffic holds them, hash tables (hash-max-listpack-entries 0 from
	// here on, so the next write to each converts it).
	if svcYoung, err = measure(svcAddr, "service-cycle-young", signInCycle); err != nil {
		return err
	}
	if _, err := redisCmd(cg.addr, "CONFIG", "SET", "hash-max-listpack-entries", "0"); err != nil {
		return err
	}
	if svcCycle, err = measure(svcAddr, "service-cycle", signInCycle); err != nil {
		return err
	}
	if svcRegistered, err = measure(svcAddr, "service-registered", registeredCycle); err != nil {
		return err
	}
	rows = append(rows,
		row{"404 poll: `GET /api/callback/{unknown}`", "least work: `GETDEL`", refPoll, svcPoll, 1.5},
		row{"sign-in cycle: `GET /callback`, then the take", "least work: `SET NX EX`, `GETDEL`", refCycle, svcCycle, 4},
		row{"sign-in cycle, the budgets a few seconds old (small listpacks)", "least work: `SET NX EX`, `GETDEL`", refCycle, svcYoung, 0},
		row{"registered cycle: `PUT`, callback, take", "–", nil, svcRegistered, 0})

	one, eight, err := subscribedCycles(procs, cg)
	if err != nil {
		return err
	}
	rows = append(rows, row{"sign-in cycle, eight replicas subscribed", "the same, one replica subscribed", one, eight, 1.1})

	fmt.Printf("%s under valgrind's callgrind (`--hz 1 --activerehashing no --slowlog-log-slower-than -1`), holding %s keys of "+
		"its own (SET EX, as a Redis in use holds keys), one process for every server, in one run. Each workload: %s operations to "+
		"warm up, the counters zeroed (`callgrind_control -z`), %s operations one after another on one keep-alive connection, the "+
		"counters dumped (`callgrind_control -d`). Instructions are the dump's `summary:` less Redis's timer (`%s`, about 120 000 "+
		"instructions a second at `--hz 1`: its share would follow the run's length, not the operations); commands are "+
		"`INFO commandstats` over the same operations, a script's counted by the commands it runs. After the first count of the "+
		"service's cycle (its budgets a few seconds old), `hash-max-listpack-entries 0`: the budgets are then hash tables, as "+
		"under steady traffic (more than 128 fields each), and every later count is of those.\n\n",
		version, thousands(residentKeys), thousands(float64(*instrWarmup)), thousands(float64(*instrOps)), cronFunction)
	fmt.Println("| workload | reference | reference: instructions/op | service: instructions/op | ratio | target | commands/op (reference, service) |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, r := range rows {
		refInstr, ratio, refCommands, verdict := "–", "–", "–", "–"
		if r.ref != nil {
			refInstr = thousands(r.ref.perOp)
			refCommands = strconv.FormatFloat(r.ref.commandsPerOp, 'f', 1, 64)
			ratio = fmt.Sprintf("%.2f×", r.svc.perOp/r.ref.perOp)
		}
		if r.target > 0 && r.ref != nil {
			met := "missed"
			if r.svc.perOp/r.ref.perOp <= r.target {
				met = "met"
			}
			verdict = fmt.Sprintf("≤ %.1f×: %s", r.target, met)
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s, %.1f |\n", r.workload, r.reference, refInstr, thousands(r.svc.perOp),
			ratio, verdict, refCommands, r.svc.commandsPerOp)
	}
	fmt.Println()
	var (
		slowest    time.Duration
		cron       int64
		background []string
	)
	for _, r := range rows {
		for _, c := range []*instrCount{r.ref, r.svc} {
			if c == nil {
				continue
			}
			slowest = max(slowest, c.elapsed)
			cron += c.cron
			if len(c.background) > 0 {
				server := r.reference
				if c == r.svc {
					server = "the service"
				}
				background = append(background, fmt.Sprintf("%s, %s: %s", r.workload, server, strings.Join(c.background, ", ")))
			}
		}
	}
	fmt.Printf("Left out: %s instructions of the timer over every counted window together; the slowest window took %s.\n",
		thousands(float64(cron)), slowest.Round(100*time.Millisecond))
	if len(background) > 0 {
		fmt.Printf("Counted, though no operation sends it: %s.\n", strings.Join(background, "; "))
	}
	if keys, err := redisCmd(cg.addr, "DBSIZE"); err != nil {
		return err
	} else if n, _ := strconv.Atoi(keys); n > residentTable {
		fmt.Printf("Warning: Redis holds %d keys, more than its tables' %d buckets after the fill: they grew during the run, "+
			"and the counts after the growth include its rehashing. Raise residentKeys (bench/loadbench/callgrind.go).\n", n, residentTable)
	}
	probeCounts, err := countProbes(cg)
	if err != nil {
		return err
	}
	printCycleAnatomy([]namedCount{
		{"404 poll, least work", refPoll}, {"404 poll, service", svcPoll},
		{"sign-in cycle, least work", refCycle}, {"sign-in cycle, service", svcCycle},
		{"sign-in cycle, service, budgets a few seconds old", svcYoung},
		{"registered cycle, service", svcRegistered},
		{"sign-in cycle, service, one replica subscribed", one}, {"sign-in cycle, service, eight replicas subscribed", eight},
	}, probeCounts)
	printAnatomy(probeCounts)
	return nil
}

// subscribedCycles counts a cycle on a replica that holds one long-poll
// (so it is subscribed, as replicas with waiters are), first alone, then
// with seven more replicas each holding one: what each subscribed replica
// adds to every cycle. The long-polls wait on states nobody signs in to;
// their re-check is pushed past the run (OAUTH_CALLBACK_LONG_POLL_RECHECK
// 10m, OAUTH_CALLBACK_MAX_WAIT 5m), so a held long-poll sends Redis
// nothing while the cycles are counted.
func subscribedCycles(procs *procList, cg *callgrindRedis) (one, eight *instrCount, err error) {
	env := map[string]string{"OAUTH_CALLBACK_REDIS_URL": "redis://" + cg.addr,
		"OAUTH_CALLBACK_MAX_WAIT": "5m", "OAUTH_CALLBACK_LONG_POLL_RECHECK": "10m"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var replicas []string
	hold := func(n int) error {
		for len(replicas) < n {
			addr, err := procs.startService(env)
			if err != nil {
				return err
			}
			replicas = append(replicas, addr)
			go holdLongPoll(ctx, addr, fmt.Sprintf("held-%d-%d-0123456789abcdef0123", time.Now().UnixNano(), len(replicas)))
		}
		return waitSubscribed(cg.addr, replicas)
	}
	if err := hold(1); err != nil {
		return nil, nil, err
	}
	c1, err := countInstructions(cg, replicas[0], "subscribed-1", signInCycle)
	if err != nil {
		return nil, nil, err
	}
	if err := stillHeld(replicas); err != nil {
		return nil, nil, err
	}
	if err := hold(8); err != nil {
		return nil, nil, err
	}
	c8, err := countInstructions(cg, replicas[0], "subscribed-8", signInCycle)
	if err != nil {
		return nil, nil, err
	}
	if err := stillHeld(replicas); err != nil {
		return nil, nil, err
	}
	return &c1, &c8, nil
}

// holdLongPoll holds one long-poll on addr until ctx ends.
func holdLongPoll(ctx context.Context, addr, state string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/callback/"+state, nil)
	if err != nil {
		return
	}
	req.Header.Set("Prefer", "wait=300")
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		return // ended by ctx; stillHeld reports one that ended early
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}

// waitSubscribed waits until every replica reports its long-poll held and
// Redis has at least as many subscribed connections as there are
// replicas. Under valgrind, Redis is slow: the wait is long, and a
// condition.
func waitSubscribed(redisAddr string, replicas []string) error {
	client := &http.Client{Timeout: time.Minute}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		held, err := heldLongPolls(client, replicas)
		if err != nil {
			return err
		}
		subscribed, err := subscribedConnections(redisAddr)
		if err != nil {
			return err
		}
		if held == len(replicas) && subscribed >= len(replicas) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after 3 minutes, %d of %d replicas hold their long-poll and Redis has %d subscribed connections", held, len(replicas), subscribed)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stillHeld checks that no long-poll ended while cycles were counted: a
// replica without a waiter may stop listening, and the count would be of
// fewer subscribers than it says.
func stillHeld(replicas []string) error {
	held, err := heldLongPolls(&http.Client{Timeout: time.Minute}, replicas)
	if err != nil {
		return err
	}
	if held != len(replicas) {
		return fmt.Errorf("%d of %d held long-polls ended while the cycles were counted", len(replicas)-held, len(replicas))
	}
	return nil
}

// heldLongPolls is how many of replicas hold a long-poll
// (oauth_callback_waiters ≥ 1).
func heldLongPolls(client *http.Client, replicas []string) (int, error) {
	held := 0
	for _, addr := range replicas {
		n, err := metric(client, addr, "oauth_callback_waiters")
		if err != nil {
			return 0, err
		}
		if n >= 1 {
			held++
		}
	}
	return held, nil
}

// subscribedConnections is how many of Redis's clients are subscribed to
// a channel, a pattern or a shard channel (CLIENT LIST's sub, psub, ssub).
func subscribedConnections(redisAddr string) (int, error) {
	list, err := redisCmd(redisAddr, "CLIENT", "LIST")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(list, "\n") {
		for _, field := range strings.Fields(line) {
			name, v, _ := strings.Cut(field, "=")
			if (name == "sub" || name == "psub" || name == "ssub") && v != "0" {
				n++
				break
			}
		}
	}
	return n, nil
}

// redisVersion names the server at addr, like "Redis 7.0.15".
func redisVersion(addr string) (string, error) {
	info, err := redisCmd(addr, "INFO", "server")
	if err != nil {
		return "", err
	}
	return "Redis " + infoField(info, "redis_version"), nil
}

// infoField is one field of INFO output, or "" if it has none.
func infoField(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// thousands formats n rounded, with a space between thousands: 86 700.
func thousands(n float64) string {
	s := strconv.FormatInt(int64(n+0.5), 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}
