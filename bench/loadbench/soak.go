package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// soak drives a fixed rate of sign-ins (callback on replica A, take on
// replica B) against two replicas on one Redis for the whole duration, and
// prints errors, latency and each replica's RSS and goroutines over time.
func soak(procs *procList, dir string, duration time.Duration, perSecond int) error {
	redisAddr, err := procs.startRedis(dir)
	if err != nil {
		return err
	}
	env := map[string]string{"OAUTH_CALLBACK_REDIS_URL": "redis://" + redisAddr}
	a, pidA, err := procs.startServiceWithPID(env)
	if err != nil {
		return err
	}
	b, pidB, err := procs.startServiceWithPID(env)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	type window struct {
		cycles, errors int64
		latencies      []time.Duration
	}
	var (
		mu  sync.Mutex
		cur = &window{}
		seq atomic.Int64
	)
	cycle := func() {
		i := seq.Add(1)
		state := fmt.Sprintf("soak-%012d-%s", i, "0123456789abcdef0123456789")
		start := time.Now()
		ok := do(client, "http://"+a+"/callback?code=c&state="+state) == http.StatusOK &&
			do(client, "http://"+b+"/api/callback/"+state) == http.StatusOK
		d := time.Since(start)
		mu.Lock()
		defer mu.Unlock()
		cur.cycles++
		cur.latencies = append(cur.latencies, d)
		if !ok {
			cur.errors++
		}
	}

	fmt.Printf("## Soak: %d sign-ins/s for %v, two replicas on one Redis\n\n", perSecond, duration)
	fmt.Println("| at | sign-ins | errors | p50 | p99 | RSS A | RSS B | goroutines A | goroutines B |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	tick := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tick.Stop()
	sample := time.NewTicker(time.Minute)
	defer sample.Stop()
	end := time.After(duration)
	started := time.Now()
	var total, totalErrors int64
	var inflight sync.WaitGroup
	report := func() {
		mu.Lock()
		w := cur
		cur = &window{}
		mu.Unlock()
		slices.Sort(w.latencies)
		rssA, _ := rssBytes(pidA)
		rssB, _ := rssBytes(pidB)
		total += w.cycles
		totalErrors += w.errors
		fmt.Printf("| %v | %d | %d | %v | %v | %.1f MiB | %.1f MiB | %d | %d |\n",
			time.Since(started).Round(time.Second), w.cycles, w.errors, pctOf(w.latencies, 50), pctOf(w.latencies, 99),
			float64(rssA)/(1<<20), float64(rssB)/(1<<20), goroutines(client, a), goroutines(client, b))
	}
	for {
		select {
		case <-tick.C:
			inflight.Add(1)
			go func() { defer inflight.Done(); cycle() }()
		case <-sample.C:
			report()
		case <-end:
			inflight.Wait()
			report()
			fmt.Printf("\n%d sign-ins, %d errors.\n", total, totalErrors)
			return nil
		}
	}
}

func do(client *http.Client, url string) int {
	resp, err := client.Get(url) // #nosec G107 -- a loopback address we started
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func pctOf(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return pct(sorted, p)
}

// goroutines reads go_goroutines from a replica's /metrics.
func goroutines(client *http.Client, addr string) int {
	resp, err := client.Get("http://" + addr + "/metrics") // #nosec G107 -- loopback
	if err != nil {
		return -1
	}
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return -1
}
