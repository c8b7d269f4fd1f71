package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The capacity run: n long-polls held on one replica of two (on one Redis),
// what each costs the process (RSS, goroutines, stacks, heap), and how fast
// each is answered once its callback lands on the other replica; beside
// the same for a bare net/http handler that blocks on a channel, in the
// same run.

// serveBare is the reference: net/http with a handler that blocks on a
// channel until /release?id= (or the client leaves), and /stats with what
// the process holds. It is what net/http itself costs per held request.
func serveBare(addr string) error {
	var (
		mu   sync.Mutex
		held = map[string]chan struct{}{}
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hold", func(w http.ResponseWriter, r *http.Request) {
		ch := make(chan struct{})
		id := r.URL.Query().Get("id")
		mu.Lock()
		held[id] = ch
		mu.Unlock()
		select {
		case <-ch:
		case <-r.Context().Done():
		}
		mu.Lock()
		delete(held, id)
		mu.Unlock()
	})
	mux.HandleFunc("GET /release", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ch := held[r.URL.Query().Get("id")]
		mu.Unlock()
		if ch != nil {
			close(ch)
		}
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n := len(held)
		mu.Unlock()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		_ = json.NewEncoder(w).Encode(map[string]any{"held": n, "goroutines": runtime.NumGoroutine(),
			"stack": m.StackInuse, "heap": m.HeapInuse})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {}) // the poll storm's 200
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return srv.ListenAndServe()
}

// raiseFileLimit lets this process, and the servers it starts, hold tens of
// thousands of connections.
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Cur, nil
}

type capacityResult struct {
	name              string
	held              int
	rssPer            float64
	goroutinesPer     float64
	stackPer, heapPer float64 // from the Go runtime, where it reports them
	wakeP50, wakeP99  time.Duration
	// sendP50, sendP99: how long the wake-up's own request took (the
	// callback on the other replica, the bare reference's release), the
	// part of the wake latency spent before the sender had its answer.
	sendP50, sendP99 time.Duration
	// What the wake-ups cost, over the whole wake phase: wake-ups per
	// second, and the CPU per wake-up of the process holding the
	// requests, of the one the wake-ups were sent to (the same one for
	// the bare reference: 0 here), and of Redis.
	wakeRate                       float64
	holderCPU, senderCPU, redisCPU float64 // µs
	// holding is the holder's CPU while it only holds them (the service's
	// re-checks), in cores, over the seconds before the wake phase.
	holding               float64
	answered, wrongAnswer int
	curve                 []rssPoint // RSS as the held requests grew
}

// rssPoint is the process's RSS with held requests held.
type rssPoint struct {
	held int
	rss  int64
}

// holdAndWake opens n connections to addr, each a request from path(i),
// waits until ready reports all n held, measures the process, then wakes
// them through wake(i) (on whatever server that is, senderPID's; 0: the
// holder's own) and times each answer.
func holdAndWake(name string, holder cpuMeter, senderPID int, addr string, n int, path func(i int) string, header string,
	ready func() (int, error), stats func() (goroutines, stack, heap float64), wake func(i int) error,
) (capacityResult, error) {
	res := capacityResult{name: name, held: n}
	pid := holder.pid
	goroutines0, stack0, heap0 := stats()
	rss0, err := rssBytes(pid)
	if err != nil {
		return res, err
	}
	type answer struct {
		at     time.Time
		status int
		err    error
	}
	answers := make([]chan answer, n)
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	sem := make(chan struct{}, 64) // dial at a pace the accept queue takes
	var dialErr error
	var mu sync.Mutex
	dial := func(from, to int) {
		var wg sync.WaitGroup
		for i := from; i < to; i++ {
			answers[i] = make(chan answer, 1)
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.Dial("tcp", addr)
				<-sem
				if err == nil {
					_, err = fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: bench\r\n%s\r\n", path(i), header)
				}
				if err != nil {
					mu.Lock()
					dialErr = err
					mu.Unlock()
					return
				}
				conns[i] = c
				go func() {
					resp, err := http.ReadResponse(bufio.NewReader(c), nil)
					at := time.Now()
					if err != nil {
						answers[i] <- answer{at: at, err: err}
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					answers[i] <- answer{at: at, status: resp.StatusCode}
				}()
			}()
		}
		wg.Wait()
	}
	// In four steps, with the RSS at each, for the plot of RSS against
	// held requests.
	res.curve = []rssPoint{{0, rss0}}
	deadline := time.Now().Add(2 * time.Minute)
	for step := 1; step <= 4; step++ {
		want := n * step / 4
		dial(res.curve[len(res.curve)-1].held, want)
		if dialErr != nil {
			return res, dialErr
		}
		for {
			held, err := ready()
			if err != nil {
				return res, err
			}
			if held >= want {
				break
			}
			if time.Now().After(deadline) {
				early := map[string]int{}
				for _, a := range answers[:want] {
					select {
					case x := <-a:
						early[fmt.Sprint(x.status, " ", x.err)]++
					default:
					}
				}
				return res, fmt.Errorf("%s: %d of %d requests held after 2 minutes (answered early: %v)", name, held, want, early)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if step < 4 {
			time.Sleep(time.Second) // as below, less: the step's garbage collected
			rss, err := rssBytes(pid)
			if err != nil {
				return res, err
			}
			res.curve = append(res.curve, rssPoint{want, rss})
		}
	}
	settle0, err := holder.read()
	if err != nil {
		return res, err
	}
	settleStart := time.Now()
	time.Sleep(3 * time.Second) // a GC or two, as in a server that has been up a while
	settle1, err := holder.read()
	if err != nil {
		return res, err
	}
	res.holding = (settle1.server - settle0.server) / time.Since(settleStart).Seconds()
	rss1, err := rssBytes(pid)
	if err != nil {
		return res, err
	}
	res.curve = append(res.curve, rssPoint{n, rss1})
	goroutines1, stack1, heap1 := stats()
	res.rssPer = float64(rss1-rss0) / float64(n)
	res.goroutinesPer = (goroutines1 - goroutines0) / float64(n)
	res.stackPer = (stack1 - stack0) / float64(n)
	res.heapPer = (heap1 - heap0) / float64(n)

	// Wake them all and time each answer from the moment its wake-up was
	// due: at -wake-rate a second, each sent at its time whatever the
	// earlier ones are doing (so that a server falling behind shows as
	// latency, not as a slower stream), or, with -wake-rate 0, from
	// -wake-senders senders each sending the next as soon as the last was
	// answered.
	sent, acked := make([]time.Time, n), make([]time.Time, n)
	cpu0, err := holder.read()
	if err != nil {
		return res, err
	}
	sender := cpuMeter{pid: senderPID}
	senderCPU0, err := sender.read()
	if err != nil {
		return res, err
	}
	wakeStart := time.Now()
	if err := sendWakeUps(n, wake, sent, acked); err != nil {
		return res, err
	}
	var lat, send []time.Duration
	for k := range n {
		select {
		case a := <-answers[k]:
			if a.err != nil || a.status != http.StatusOK {
				res.wrongAnswer++
				continue
			}
			res.answered++
			lat = append(lat, a.at.Sub(sent[k]))
			send = append(send, acked[k].Sub(sent[k]))
		case <-time.After(30 * time.Second):
			return res, fmt.Errorf("%s: request %d never answered", name, k)
		}
	}
	// Every answer is in: what the wake phase cost.
	wakePhase := time.Since(wakeStart)
	cpu1, err := holder.read()
	if err != nil {
		return res, err
	}
	senderCPU1, err := sender.read()
	if err != nil {
		return res, err
	}
	res.wakeRate = float64(n) / wakePhase.Seconds()
	res.holderCPU = 1e6 * (cpu1.server - cpu0.server) / float64(n)
	res.redisCPU = 1e6 * (cpu1.redis - cpu0.redis) / float64(n)
	res.senderCPU = 1e6 * (senderCPU1.server - senderCPU0.server) / float64(n)
	slices.Sort(lat)
	slices.Sort(send)
	if len(lat) > 0 {
		res.wakeP50, res.wakeP99 = pct(lat, 50), pct(lat, 99)
		res.sendP50, res.sendP99 = pct(send, 50), pct(send, 99)
	}
	return res, nil
}

// sendWakeUps calls wake(k) for every k < n: at -wake-rate a second,
// each at its time whatever the earlier ones are doing, or, with
// -wake-rate 0, from -wake-senders senders each calling the next as soon
// as its last returned. sent[k] is when wake(k) was due, acked[k] when it
// returned.
func sendWakeUps(n int, wake func(k int) error, sent, acked []time.Time) error {
	var (
		mu      sync.Mutex
		wakeErr error
		wg      sync.WaitGroup
	)
	send := func(k int, due time.Time) bool {
		sent[k] = due
		if err := wake(k); err != nil {
			mu.Lock()
			wakeErr = cmp.Or(wakeErr, err)
			mu.Unlock()
			return false
		}
		acked[k] = time.Now()
		return true
	}
	if *wakeRate > 0 {
		interval := time.Second / time.Duration(*wakeRate)
		start := time.Now()
		inFlight := make(chan struct{}, 512) // past that many unanswered, the next is late, and its latency says so
		for k := range n {
			due := start.Add(time.Duration(k) * interval)
			time.Sleep(time.Until(due))
			inFlight <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-inFlight }()
				send(k, due)
			}()
		}
	} else {
		var next atomic.Int64
		for range *wakeSenders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := int(next.Add(1) - 1); k < n; k = int(next.Add(1) - 1) {
					if !send(k, time.Now()) {
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	return wakeErr
}

// capacity runs the capacity figures for n held long-polls.
func capacity(redisAddr string, n int) error {
	limit, err := raiseFileLimit()
	if err != nil {
		return err
	}
	// #nosec G115 -- open-file limits and connection counts are far from overflowing.
	if room := int(limit) - 1000; room < n {
		fmt.Printf("(open files limited to %d: holding %d instead of %d)\n", limit, room, n)
		n = room
	}
	client := &http.Client{Timeout: 10 * time.Second}

	self, err := executable()
	if err != nil {
		return err
	}
	// Rounds alternate the two, as the throughput rounds do, each on fresh
	// processes (a process does not give back what an earlier round took);
	// each figure is the median round's, since RSS moves with the garbage
	// collector's timing.
	var bares, svcs []capacityResult
	for round := range *rounds {
		bare, svc, err := capacityRound(self, redisAddr, n, round, client)
		if err != nil {
			return err
		}
		bares, svcs = append(bares, bare), append(svcs, svc)
	}
	bare, svc := medianCapacity(bares), medianCapacity(svcs)
	figures.rss = []capacityResult{bare, svc}

	fmt.Printf("\n## Capacity: %d long-polls held on one replica of two (Redis), callbacks on the other\n\n", n)
	fmt.Println("| server | RSS per held request | goroutines per held request | stack per held request | heap per held request | answered | wake p50 | wake p99 | wake-up's own request p50, p99 |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	for _, r := range []capacityResult{bare, svc} {
		fmt.Printf("| %s | %.1f KB | %.2f | %.1f KB | %.1f KB | %d of %d | %v | %v | %v, %v |\n", r.name, r.rssPer/1000, r.goroutinesPer,
			r.stackPer/1000, r.heapPer/1000, r.answered, r.held, r.wakeP50, r.wakeP99, r.sendP50, r.sendP99)
	}
	var wakes []string
	for i := range bares {
		wakes = append(wakes, fmt.Sprintf("%v against %v", svcs[i].wakeP99, bares[i].wakeP99))
	}
	fmt.Printf("\nWake p99 by round, service against bare (%s): %s.\n", wakeStream(), strings.Join(wakes, "; "))
	fmt.Printf("\nThe wake phase (median round by RSS, as above): bare %.0f wake-ups/s, its CPU %.0f µs per wake-up; "+
		"service %.0f wake-ups/s, CPU per wake-up: holding replica %.0f µs, the replica storing the callbacks %.0f µs, Redis %.0f µs. "+
		"While only holding them, the holding replica used %.2f of a core (the re-checks; bare: %.2f).\n",
		bare.wakeRate, bare.holderCPU, svc.wakeRate, svc.holderCPU, svc.senderCPU, svc.redisCPU, svc.holding, bare.holding)
	fmt.Printf("\nRSS per held long-poll: %.2f× the bare handler's; stack and heap: %.2f× (medians of %d rounds).\n",
		svc.rssPer/bare.rssPer, (svc.stackPer+svc.heapPer)/(bare.stackPer+bare.heapPer), len(svcs))
	return nil
}

// capacityRound measures the reference and two replicas, on processes of
// its own, once.
func capacityRound(self, redisAddr string, n, round int, client *http.Client) (bare, svc capacityResult, err error) {
	var procs procList
	defer procs.stopAll()
	bareAddr := freeAddr()
	if err := procs.start(nil, self, "-bare-server", bareAddr); err != nil {
		return bare, svc, err
	}
	if err := waitHTTP("http://" + bareAddr + "/stats"); err != nil {
		return bare, svc, err
	}
	barePID := procs.cmds[len(procs.cmds)-1].Process.Pid

	// Two replicas on one Redis: hold on B, callbacks on A.
	env := map[string]string{"OAUTH_CALLBACK_REDIS_URL": "redis://" + redisAddr, "OAUTH_CALLBACK_REDIS_KEY_PREFIX": "capacity:",
		"OAUTH_CALLBACK_MAX_WAITERS": strconv.Itoa(2 * n),
		// Held in four steps, each measured: more than the default minute
		// may pass before the last one is held.
		"OAUTH_CALLBACK_MAX_WAIT": "5m"}
	a, pidA, err := procs.startServiceWithPID(env)
	if err != nil {
		return bare, svc, err
	}
	b, pidB, err := procs.startServiceWithPID(env)
	if err != nil {
		return bare, svc, err
	}

	bare, err = holdAndWake("bare net/http handler blocking on a channel", cpuMeter{pid: barePID}, 0, bareAddr, n,
		func(i int) string { return fmt.Sprintf("/hold?id=%d-%d", round, i) }, "",
		func() (int, error) {
			var s struct{ Held int }
			err := getJSON(client, "http://"+bareAddr+"/stats", &s)
			return s.Held, err
		},
		func() (float64, float64, float64) {
			var s struct{ Goroutines, Stack, Heap float64 }
			_ = getJSON(client, "http://"+bareAddr+"/stats", &s)
			return s.Goroutines, s.Stack, s.Heap
		},
		func(i int) error { return getOK(client, fmt.Sprintf("http://%s/release?id=%d-%d", bareAddr, round, i)) })
	if err != nil {
		return bare, svc, err
	}
	// 43 characters, like the field client's states.
	state := func(i int) string { return fmt.Sprintf("capacity-%d-%034d", round, i) }
	svc, err = holdAndWake("oauth-callback-server, Redis store", cpuMeter{pidB, redisAddr}, pidA, b, n,
		func(i int) string { return "/api/callback/" + state(i) }, "Prefer: wait=300\r\n",
		func() (int, error) {
			v, err := metric(client, b, "oauth_callback_waiters")
			return int(v), err
		},
		func() (float64, float64, float64) {
			g, _ := metric(client, b, "go_goroutines")
			st, _ := metric(client, b, "go_memstats_stack_inuse_bytes")
			hp, _ := metric(client, b, "go_memstats_heap_inuse_bytes")
			return g, st, hp
		},
		func(i int) error { return getOK(client, "http://"+a+"/callback?code=c&state="+state(i)) })
	if err != nil {
		return bare, svc, err
	}
	return bare, svc, nil
}

// wakeStream says how the wake-ups were sent.
func wakeStream() string {
	if *wakeRate > 0 {
		return fmt.Sprintf("%d wake-ups a second, each at its time", *wakeRate)
	}
	return fmt.Sprintf("%d senders, each sending its next as soon as its last was answered", *wakeSenders)
}

// medianCapacity is the median round by RSS per held request.
func medianCapacity(rs []capacityResult) capacityResult {
	return medianBy(rs, func(r capacityResult) float64 { return r.rssPer })
}

// pollStorm measures the 404 path: 16 workers polling states that were
// never stored, on the bare handler, the memory store and the Redis store.
func pollStorm(procs *procList, dir, redisAddr string) error {
	script, err := writeScript(dir, "poll.lua", pollScript)
	if err != nil {
		return err
	}
	self, err := executable()
	if err != nil {
		return err
	}
	bareAddr := freeAddr()
	if err := procs.start(nil, self, "-bare-server", bareAddr); err != nil {
		return err
	}
	barePID := procs.lastPID()
	if err := waitHTTP("http://" + bareAddr + "/stats"); err != nil {
		return err
	}
	leastAddr, leastPID, err := startLeastWork(procs, self, redisAddr)
	if err != nil {
		return err
	}
	memAddr, memPID, err := procs.startServiceWithPID(nil)
	if err != nil {
		return err
	}
	redisSvc, redisSvcPID, err := procs.startServiceWithPID(map[string]string{"OAUTH_CALLBACK_REDIS_URL": "redis://" + redisAddr, "OAUTH_CALLBACK_REDIS_KEY_PREFIX": "storm:"})
	if err != nil {
		return err
	}
	targets := []target{
		{"bare net/http handler (200, empty)", bareAddr, cpuMeter{pid: barePID}},
		{"least work: net/http + go-redis GETDEL (404)", leastAddr, cpuMeter{leastPID, redisAddr}},
		{"oauth-callback-server, memory store (404)", memAddr, cpuMeter{pid: memPID}},
		{"oauth-callback-server, Redis store (404)", redisSvc, cpuMeter{redisSvcPID, redisAddr}},
	}
	results, err := wrkRounds(script, targets, "s", 2, 16)
	if err != nil {
		return err
	}
	fmt.Printf("\n## Poll storm: 16 connections polling states never stored (wrk -t2 -c16 -d%s, %d rounds)\n\n", *duration, *rounds)
	printRates(results, targets, "polls", 1)
	for i := range targets {
		recordThroughput(throughputPaths[0], throughputServers[i], median(results[i]).rps)
	}
	fmt.Printf("\nRedis store / least work: %s (404 polls, one run: `go -C bench run ./loadbench -only pollstorm`).\n",
		versus(results[3], results[1], 1))
	return nil
}

// startLeastWork starts the least-work reference on redisAddr and returns
// where it listens and its process.
func startLeastWork(procs *procList, self, redisAddr string) (string, int, error) {
	addr := freeAddr()
	if err := procs.start(nil, self, "-least-work-server", addr, "-least-work-redis", redisAddr); err != nil {
		return "", 0, err
	}
	return addr, procs.lastPID(), waitHTTP("http://" + addr + "/")
}

// metric reads one unlabelled metric from a service's /metrics.
func metric(client *http.Client, addr, name string) (float64, error) {
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("%s: no metric %s", addr, name)
}

func getJSON(client *http.Client, url string, v any) error {
	resp, err := client.Get(url) // #nosec G107 -- a loopback address we started
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func getOK(client *http.Client, url string) error {
	resp, err := client.Get(url) // #nosec G107 -- a loopback address we started
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d", url, resp.StatusCode)
	}
	return nil
}
