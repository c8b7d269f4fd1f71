package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	client "github.com/oauth-callback-server/oauth-callback-server/clients/go"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testwait"
)

// signInLoad is sign-ins sent through a service by eight workers while a
// test changes the replicas behind it (a rolling restart, an upgrade):
// each a callback and the Go client's long-poll take, some registered
// first with metadata. It counts what came through, what failed, and
// every code's takers.
type signInLoad struct {
	flows, failed atomic.Int64

	mu        sync.Mutex
	failures  []string
	delivered map[string]int

	stop chan struct{}
	wg   sync.WaitGroup
}

// signInOptions: the states' prefix, the client's long-poll, and whether
// the i-th sign-in of a worker is registered first.
type signInOptions struct {
	prefix   string
	longPoll time.Duration
	register func(i int) bool
}

// startSignIns starts the workers against url; stopAndCheck ends them.
func startSignIns(url string, o signInOptions) *signInLoad {
	l := &signInLoad{delivered: map[string]int{}, stop: make(chan struct{})}
	for worker := range 8 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c, _ := client.New(url, client.WithPollInterval(100*time.Millisecond), client.WithLongPoll(o.longPoll))
			httpc := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				state := fmt.Sprintf("%s-%d-%d-0123456789abcdef", o.prefix, worker, i)
				l.signIn(c, httpc, url, state, o.register != nil && o.register(i))
			}
		}()
	}
	return l
}

func (l *signInLoad) fail(format string, args ...any) {
	l.failed.Add(1)
	l.mu.Lock()
	l.failures = append(l.failures, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *signInLoad) signIn(c *client.Client, httpc *http.Client, url, state string, registered bool) {
	code := "code-" + state
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if registered {
		if err := c.Register(ctx, state, time.Minute, map[string]string{"by": state}); err != nil {
			l.fail("register %s: %v", state, err)
			return
		}
	}
	got := make(chan error, 1)
	var res *client.Result
	go func() {
		var err error
		res, err = c.Wait(ctx, state)
		got <- err
	}()
	// Not synchronisation: a callback before the take's first look is a
	// sign-in too (the first look takes it). The pause makes most
	// callbacks arrive while the take is long-polling, so that wake-ups
	// across replicas are what the load exercises.
	time.Sleep(20 * time.Millisecond)
	resp, err := httpc.Get(url + "/callback?code=" + code + "&state=" + state)
	if err != nil {
		l.fail("callback %s: %v", state, err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			l.fail("callback %s: %d", state, resp.StatusCode)
		}
	}
	if err := <-got; err != nil {
		l.fail("wait %s: %v", state, err)
		return
	}
	if res.AuthCode != code {
		l.fail("wait %s: got code %q", state, res.AuthCode)
	}
	if registered {
		var meta map[string]string
		// A registration made by one release and a callback that reached
		// the other (not the previous release's to read) may lose the
		// metadata, the upgrade window's documented limit; anything else
		// must come back.
		if len(res.Metadata) > 0 && (json.Unmarshal(res.Metadata, &meta) != nil || meta["by"] != state) {
			l.fail("wait %s: metadata %s", state, res.Metadata)
		}
	}
	l.mu.Lock()
	l.delivered[res.AuthCode]++
	l.mu.Unlock()
	l.flows.Add(1)
}

// throughPhase waits until n more sign-ins have come through: a phase of
// the test lasts as long as it takes sign-ins to go through it.
func (l *signInLoad) throughPhase(t *testing.T, n int64, phase string) {
	t.Helper()
	from := l.flows.Load()
	testwait.Until(t, time.Minute, fmt.Sprintf("%d sign-ins %s", n, phase), func() bool { return l.flows.Load() >= from+n })
}

// stopAndCheck ends the workers, and fails t for any failed sign-in and
// any code taken more than once.
func (l *signInLoad) stopAndCheck(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	for c, n := range l.delivered {
		if n != 1 {
			t.Errorf("%s delivered %d times", c, n)
		}
	}
	if l.failed.Load() > 0 {
		t.Errorf("%d failed: %v", l.failed.Load(), l.failures)
	}
}
