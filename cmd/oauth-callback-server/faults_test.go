//go:build faults

// The fault suite (make test-faults): real redis-server, Sentinel and
// Cluster processes, and real instances of the service, under failures.
// Figures it logs (FIGURE lines) are reported in docs/reliability.md.
package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
)

// figure logs a measured figure in a form docs/reliability.md quotes.
func figure(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("FIGURE %s: %s", t.Name(), fmt.Sprintf(format, args...))
}

// noLeaks checks, when the test and all its cleanups are done, that no
// goroutine and no file descriptor is left behind.
func noLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	fds := openFDs(t)
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		deadline := time.Now().Add(5 * time.Second)
		for openFDs(t) > fds && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := openFDs(t); n > fds {
			t.Errorf("file descriptors: %d open after the test, %d before", n, fds)
		}
		// go-redis keeps redialling a dead node in the background after
		// the client is closed: the library's, not ours.
		if err := goleak.Find(ignore, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial")); err != nil {
			t.Errorf("goroutines leaked: %v", err)
		}
	})
}

// crossReplicaWakeUp: a waiter on one instance gets a callback that lands
// on another, through Redis pub/sub (well before the 5 s re-check).
func crossReplicaWakeUp(t *testing.T, waiterOn, callbackOn, state string) {
	t.Helper()
	client := &http.Client{Timeout: 40 * time.Second}
	got := make(chan int, 1)
	go func() {
		code, _, err := get(client, waiterOn+"/api/callback/"+state+"?wait=20s")
		if err != nil {
			code = 0
		}
		got <- code
	}()
	time.Sleep(300 * time.Millisecond)
	sent := time.Now()
	if code, _, err := get(client, callbackOn+"/callback?code=c&state="+state); err != nil || code != 200 {
		t.Fatalf("callback: %d %v", code, err)
	}
	if code := <-got; code != 200 {
		t.Fatalf("waiter: %d, want 200", code)
	}
	if d := time.Since(sent); d > 4*time.Second {
		t.Errorf("waiter answered %v after the callback: woken by the re-check, not pub/sub", d)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// stream sends one callback every interval until stop is closed, and
// records the states the service acknowledged with 200.
type stream struct {
	acked, refused, failed atomic.Int64
	mu                     sync.Mutex
	states                 []string
	ackedAt                []time.Time
	// waitsForReplicas: MIN_REPLICAS is set, so a take may answer 503.
	waitsForReplicas bool
}

func (s *stream) run(base, tag string, interval time.Duration, stop <-chan struct{}) {
	client := &http.Client{Timeout: 5 * time.Second}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-time.After(interval):
		}
		state := fmt.Sprintf("%s-%06d-%s", tag, i, strings.Repeat("x", 20))
		code, _, err := get(client, base+"/callback?code=c-"+state+"&state="+state)
		switch {
		case err != nil:
			s.failed.Add(1)
		case code == http.StatusOK:
			s.acked.Add(1)
			s.mu.Lock()
			s.states = append(s.states, state)
			s.ackedAt = append(s.ackedAt, time.Now())
			s.mu.Unlock()
		default:
			s.refused.Add(1) // 503: the person is told to try again
		}
	}
}

// lost takes every acknowledged callback and counts those that are gone
// (404), and when they were acknowledged. Any other answer fails the test:
// the count would mean nothing.
func (s *stream) lost(t *testing.T, base string) (lost, unreplicated int, when []time.Time) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	for i, state := range s.states {
		code, body, err := get(client, base+"/api/callback/"+state)
		switch {
		case err != nil:
			t.Fatal(err)
		case code == http.StatusNotFound:
			lost++
			when = append(when, s.ackedAt[i])
		case code == http.StatusServiceUnavailable && s.waitsForReplicas:
			// The take waits for the replicas too: one still resyncing
			// after the failover makes it 503, and the code is not handed
			// out, rather than risk handing it out twice.
			unreplicated++
		case code != http.StatusOK:
			t.Fatalf("take of %s: %d %s", state, code, body)
		}
	}
	return lost, unreplicated, when
}

func TestFaultSentinelFailover(t *testing.T) {
	for _, minReplicas := range []string{"0", "1", "2"} {
		t.Run("MIN_REPLICAS="+minReplicas, func(t *testing.T) {
			r := redistest.StartSentinel(t, 2, 3)
			inst := startInstance(t, map[string]string{
				"OAUTH_CALLBACK_REDIS_SENTINEL_ADDRS":  strings.Join(r.SentinelAddrs(), ","),
				"OAUTH_CALLBACK_REDIS_SENTINEL_MASTER": r.Master,
				"OAUTH_CALLBACK_REDIS_MIN_REPLICAS":    minReplicas,
				"OAUTH_CALLBACK_STORE_TIMEOUT":         "500ms",
			})
			if minReplicas == "0" {
				second := startInstance(t, map[string]string{
					"OAUTH_CALLBACK_REDIS_SENTINEL_ADDRS":  strings.Join(r.SentinelAddrs(), ","),
					"OAUTH_CALLBACK_REDIS_SENTINEL_MASTER": r.Master,
				})
				crossReplicaWakeUp(t, second.URL, inst.URL, "sentinel-long-poll")
			}
			var s stream
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() { defer close(done); s.run(inst.URL, "sentinel", 10*time.Millisecond, stop) }()

			time.Sleep(2 * time.Second)
			failoverAt := time.Now()
			r.Sentinels[0].Cmd(t, "SENTINEL", "FAILOVER", r.Master)
			// Recovery: the first acknowledged callback after the new
			// primary took over.
			before := s.acked.Load()
			deadline := time.Now().Add(30 * time.Second)
			for !strings.Contains(r.Sentinels[0].Cmd(t, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", r.Master), fmt.Sprint(r.Replicas[0].Port)) &&
				!strings.Contains(r.Sentinels[0].Cmd(t, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", r.Master), fmt.Sprint(r.Replicas[1].Port)) {
				if time.Now().After(deadline) {
					t.Fatal("no replica was promoted")
				}
				time.Sleep(50 * time.Millisecond)
			}
			promoted := time.Since(failoverAt)
			time.Sleep(4 * time.Second)
			close(stop)
			<-done
			if s.acked.Load() <= before {
				t.Fatal("no callback acknowledged after the failover: the service did not follow the new primary")
			}
			s.waitsForReplicas = minReplicas != "0"
			lost, unreplicated, when := s.lost(t, inst.URL)
			var window string
			if len(when) > 0 {
				window = fmt.Sprintf(" (acknowledged from %v to %v after the failover command)",
					when[0].Sub(failoverAt).Round(time.Millisecond), when[len(when)-1].Sub(failoverAt).Round(time.Millisecond))
			}
			figure(t, "acknowledged %d, refused (503, person asked to retry) %d, transport errors %d, acknowledged but lost %d%s, takes refused while a replica resynced %d; promotion %v",
				s.acked.Load(), s.refused.Load(), s.failed.Load(), lost, window, unreplicated, promoted.Round(time.Millisecond))
			if s.failed.Load() > 0 {
				t.Errorf("%d requests failed at the transport level: the service must answer, not hang or drop", s.failed.Load())
			}
		})
	}
}

func TestFaultCluster(t *testing.T) {
	noLeaks(t)
	c := redistest.StartCluster(t, 3, 1)
	env := map[string]string{"OAUTH_CALLBACK_REDIS_CLUSTER_ADDRS": strings.Join(c.Addrs()[:3], ",")}
	replicas := []*instance{startInstance(t, env), startInstance(t, env), startInstance(t, env)}
	client := &http.Client{Timeout: 5 * time.Second}

	// Exactly once across three replicas, on a cluster.
	const states = 200
	for i := range states {
		if code, body, err := get(client, fmt.Sprintf("%s/callback?code=code-%d&state=cluster-%d", replicas[i%3].URL, i, i)); err != nil || code != 200 {
			t.Fatalf("callback %d: %d %v %.200s", i, code, err, body)
		}
	}
	if n := activeCallbacks(t, client, replicas[1].URL); n != states {
		t.Errorf("active_callbacks on the cluster: %d, want %d", n, states)
	}
	var wg sync.WaitGroup
	var ok, other atomic.Int64
	for i := range states {
		for _, r := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, _, err := get(client, fmt.Sprintf("%s/api/callback/cluster-%d", r.URL, i))
				switch {
				case err == nil && code == 200:
					ok.Add(1)
				case err == nil && (code == 410 || code == 404):
				default:
					other.Add(1)
				}
			}()
		}
	}
	wg.Wait()
	if ok.Load() != states || other.Load() != 0 {
		t.Fatalf("takes: %d successes (want %d), %d unexpected answers", ok.Load(), states, other.Load())
	}
	crossReplicaWakeUp(t, replicas[1].URL, replicas[0].URL, "cluster-long-poll")

	// Kill a primary: its replica is promoted and the service recovers by
	// itself.
	var primary *redistest.Server
	for _, n := range c.Nodes {
		if strings.Contains(n.Cmd(t, "ROLE"), "master") {
			primary = n
			break
		}
	}
	primary.Stop()
	killedAt := time.Now()

	recovered := time.Duration(0)
	var last string
	for i := 0; recovered == 0; i++ {
		if time.Since(killedAt) > 60*time.Second {
			var live *redistest.Server
			for _, n := range c.Nodes {
				if n.Running() {
					live = n
				}
			}
			t.Fatalf("no recovery within 60 s of losing a primary; last answer: %s\n%s\n%s", last,

				live.Cmd(t, "CLUSTER", "INFO"), live.Cmd(t, "CLUSTER", "NODES"))
		}
		// 50 states in a row, spread over every slot range, must succeed.
		all := true
		for j := range 50 {
			state := fmt.Sprintf("after-kill-%d-%d", i, j)
			code, body, err := get(client, replicas[j%3].URL+"/callback?code=c&state="+state)
			if err != nil || code != 200 {
				last = fmt.Sprintf("%d %v %.120s", code, err, body)
				all = false
				break
			}
		}
		if all {
			recovered = time.Since(killedAt)
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	figure(t, "200 states exactly once over 3 service replicas; recovered %v after a primary was killed (cluster-node-timeout 1 s)", recovered.Round(time.Millisecond))
}

func TestFaultRedisRestartResubscribes(t *testing.T) {
	noLeaks(t)
	redis := redistest.Start(t)
	inst := startInstance(t, map[string]string{"OAUTH_CALLBACK_REDIS_URL": redis.URL(), "OAUTH_CALLBACK_STORE_TIMEOUT": "300ms"})
	client := &http.Client{Timeout: 40 * time.Second}
	// Start the process's subscription, then take Redis away and back.
	if code, _, err := get(client, inst.URL+"/api/callback/warm-up?wait=0.1"); err != nil || code != 404 {
		t.Fatalf("warm-up: %d %v", code, err)
	}
	redis.Stop()
	time.Sleep(time.Second)
	redis.Restart(t)
	restartedAt := time.Now()
	// A waiter after the restart is woken through pub/sub, well before its
	// 5-second re-check, once the subscription is back.
	var wakeups []time.Duration
	for i := 0; len(wakeups) < 3 && time.Since(restartedAt) < 30*time.Second; i++ {
		state := fmt.Sprintf("after-restart-%d", i)
		got := make(chan time.Duration, 1)
		go func() {
			start := time.Now()
			code, _, err := get(client, inst.URL+"/api/callback/"+state+"?wait=20s")
			if err != nil || code != 200 {
				got <- -1
				return
			}
			got <- time.Since(start)
		}()
		time.Sleep(300 * time.Millisecond)
		sent := time.Now()
		if code, _, err := get(client, inst.URL+"/callback?code=c&state="+state); err != nil || code != 200 {
			<-got
			continue // Redis still coming back
		}
		if d := <-got; d > 0 {
			wakeups = append(wakeups, time.Since(sent))
		}
	}
	if len(wakeups) < 3 {
		t.Fatalf("waiters not served after the restart: %v", wakeups)
	}
	for _, d := range wakeups {
		if d > 4*time.Second {
			t.Errorf("a waiter took %v: woken by the re-check, not by pub/sub", d)
		}
	}
	figure(t, "waiters woken %v after their callback, once Redis restarted", wakeups)
}

func TestFaultSlowClients(t *testing.T) {
	noLeaks(t)
	inst := startInstance(t, map[string]string{"OAUTH_CALLBACK_READ_HEADER_TIMEOUT": "2s", "OAUTH_CALLBACK_IDLE_TIMEOUT": "2s"})
	host := strings.TrimPrefix(inst.URL, "http://")
	var conns []netConn
	for i := range 1000 {
		c, err := dial(host)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		if i%10 == 0 {
			_, _ = c.Write([]byte("GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")) // headers never finish
		}
	}
	client := &http.Client{Timeout: 5 * time.Second}
	var worst time.Duration
	var lat []time.Duration
	for range 20 {
		start := time.Now()
		if code, _, err := get(client, inst.URL+"/health"); err != nil || code != 200 {
			t.Fatalf("/health with 1000 idle connections: %d %v", code, err)
		}
		d := time.Since(start)
		lat = append(lat, d)
		worst = max(worst, d)
	}
	median := medianOf(lat)
	if median > 100*time.Millisecond {
		t.Errorf("/health median %v with 1000 idle connections, want under 100 ms", median)
	}
	// The read-header timeout closes them all.
	closed := 0
	for _, c := range conns {
		if c.closedWithin(10 * time.Second) {
			closed++
		}
	}
	if closed != len(conns) {
		t.Errorf("%d of %d idle connections still open 10 s after a 2 s read-header timeout", len(conns)-closed, len(conns))
	}
	figure(t, "/health median %v, worst %v of 20 with 1000 idle or half-sent connections; all closed by the timeout", median.Round(time.Microsecond), worst.Round(time.Microsecond))
}

// TestFaultRedisStoppedUnderLoad: Redis goes away while sign-ins go on.
// Every request is answered (200, or 503 within the store timeout), never
// hangs; /healthz stays 200 and /readyz 503; when Redis is back the service
// serves again by itself.
//
// With OAUTH_CALLBACK_REDIS_AUTO_PIPELINE too: a call waiting in a batch is
// bounded by the socket timeouts, not the store timeout, so it may take
// longer, but it still never hangs.
func TestFaultRedisStoppedUnderLoad(t *testing.T) {
	for _, autoPipeline := range []string{"false", "true"} {
		t.Run("auto_pipeline="+autoPipeline, func(t *testing.T) { redisStoppedUnderLoad(t, autoPipeline) })
	}
}

func redisStoppedUnderLoad(t *testing.T, autoPipeline string) {
	noLeaks(t)
	redis := redistest.Start(t)
	const storeTimeout = 500 * time.Millisecond
	inst := startInstance(t, map[string]string{"OAUTH_CALLBACK_REDIS_URL": redis.URL(), "OAUTH_CALLBACK_STORE_TIMEOUT": "500ms",
		"OAUTH_CALLBACK_REDIS_AUTO_PIPELINE": autoPipeline})
	var (
		slowest   atomic.Int64 // ns
		ok503     atomic.Int64
		ok200     atomic.Int64
		bad       atomic.Int64
		lastError atomic.Value
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				state := fmt.Sprintf("load-%d-%d", w, i)
				for _, path := range []string{"/callback?code=c&state=" + state, "/api/callback/" + state} {
					start := time.Now()
					code, _, err := get(client, inst.URL+path)
					if d := time.Since(start).Nanoseconds(); d > slowest.Load() {
						slowest.Store(d)
					}
					switch {
					case err != nil:
						bad.Add(1)
						lastError.Store(err.Error())
					case code == 200:
						ok200.Add(1)
					case code == 503:
						ok503.Add(1)
					case code == 404 && strings.HasPrefix(path, "/api/"):
						// the callback was refused with 503, so nothing to take
					default:
						bad.Add(1)
						lastError.Store(fmt.Sprint(code))
					}
				}
			}
		}()
	}
	client := &http.Client{Timeout: 5 * time.Second}
	time.Sleep(time.Second)
	redis.Stop()
	time.Sleep(300 * time.Millisecond)
	if code, _, _ := get(client, inst.URL+"/healthz"); code != 200 {
		t.Errorf("/healthz during the outage: %d", code)
	}
	if code, _, _ := get(client, inst.URL+"/readyz"); code != 503 {
		t.Errorf("/readyz during the outage: %d", code)
	}
	time.Sleep(2 * time.Second)
	during503 := ok503.Load()
	redis.Restart(t)
	back := time.Now()
	before := ok200.Load()
	for ok200.Load() < before+20 {
		if time.Since(back) > 5*time.Second {
			t.Fatalf("not serving 5 s after Redis came back (%d successes since)", ok200.Load()-before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	recovered := time.Since(back)
	close(stop)
	wg.Wait()
	if bad.Load() > 0 {
		t.Errorf("%d requests failed or hung (last: %v)", bad.Load(), lastError.Load())
	}
	if during503 == 0 {
		t.Error("no 503 during the outage: the test did not test anything")
	}
	// The store timeout bounds every call, with room for the handler and a
	// busy machine (410 ms seen). Auto-pipelined, a call waits behind the
	// batches queued before it, each bounded by the socket timeout (the same
	// 500 ms): 0.8-1.6 s seen; the bound there only tells slow from hung.
	bound := 2 * time.Second
	if autoPipeline == "true" {
		bound = 8 * time.Second
	}
	if worst := time.Duration(slowest.Load()); worst > bound {
		t.Errorf("slowest request %v with a %v store timeout", worst, storeTimeout)
	}
	figure(t, "8 workers: %d answered 200, %d answered 503 while Redis was down, 0 hung; slowest request %v (store timeout %v); serving again %v after Redis restarted",
		ok200.Load(), ok503.Load(), time.Duration(slowest.Load()).Round(time.Millisecond), storeTimeout, recovered.Round(time.Millisecond))
}
