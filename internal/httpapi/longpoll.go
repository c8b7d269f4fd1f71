package httpapi

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// Long-polls are the service's capacity: ten thousand can be held on one
// replica, so what one costs while it waits is what a replica can hold.
// net/http keeps a goroutine per request (and one reading the connection),
// and a goroutine keeps the stack its deepest call needed: a request that
// waited deep inside the router and middleware, after a Redis round trip,
// held a 16 KiB stack and every object of its path. So a request that may
// wait runs its handler on a short-lived helper goroutine; when the handler
// decides to wait, it leaves a longPoll behind and returns, and the
// request's own goroutine waits in a shallow frame, holding only the
// longPoll. Each wake-up hands the request to a helper again, which looks,
// and answers or goes back to waiting. docs/benchmarks.md, "Capacity", has
// the figures.

// nextRecheck is the re-check interval less a random part of up to a fifth
// of it, so that waiters that arrived together (after a restart, a deploy)
// do not all look at once, every five seconds, in step.
func (s *server) nextRecheck() time.Duration {
	return s.opts.LongPoll.Recheck - rand.N(s.opts.LongPoll.Recheck/5) // #nosec G404 -- jitter, not a secret
}

// longPoll is a request waiting for its callback. It keeps whose request
// it is: every look after the first runs on the outer request, which never
// went through the token check.
type longPoll struct {
	app    callback.App
	state  string
	wake   <-chan struct{}
	cancel func() // unsubscribes
	timer  *time.Timer
	start  time.Time
	end    time.Time
	woken  bool // a wake-up came: the callback's arrival is timed
}

// mayWait reports whether r could become a long-poll: a take that asks for
// a wait. Only those pay for the helper goroutine.
func (s *server) mayWait(r *http.Request) bool {
	return s.notifier != nil && s.opts.LongPoll.MaxWait > 0 && r.Method == http.MethodGet &&
		strings.HasPrefix(r.URL.Path, "/api/callback/") &&
		(strings.Contains(r.URL.RawQuery, "wait") || r.Header.Get("Prefer") != "")
}

// serveMayWait serves a request that may become a long-poll: the handler on
// a helper, then, while it waits, the wait here.
func (s *server) serveMayWait(w http.ResponseWriter, r *http.Request, info *requestInfo) {
	onHelper(func() { s.router.ServeHTTP(w, r) })
	for info.longPoll != nil {
		why := info.longPoll.wait(r.Context(), s.opts.Draining, s.nextRecheck)
		onHelper(func() {
			defer s.recoverTo(w, r)
			s.resume(w, r, info, why)
		})
	}
}

// beginLongPoll subscribes to the state's wake-ups, after a first look
// found nothing: the subscription wakes the waiter once it is active, so
// a callback stored between the look and then is found by the next look.
// The caller then calls waitForCallback.
func (s *server) beginLongPoll(info *requestInfo, app callback.App, state string) {
	wake, cancel := s.notifier.Subscribe(state)
	info.longPoll = &longPoll{app: app, state: state, wake: wake, cancel: cancel}
}

// waitForCallback leaves the request waiting up to wait: the handler
// returns, and the request's goroutine waits (serveMayWait).
func (s *server) waitForCallback(w http.ResponseWriter, info *requestInfo, wait time.Duration) {
	now := time.Now()
	// The server's write timeout is for ordinary requests; this one may
	// legitimately stay open for the whole wait.
	_ = http.NewResponseController(w).SetWriteDeadline(now.Add(wait + s.opts.WriteTimeout))
	lp := info.longPoll
	lp.start, lp.end = now, now.Add(wait)
	lp.timer = time.NewTimer(min(s.nextRecheck(), wait))
}

// wakeReason is why a waiting long-poll woke up.
type wakeReason uint8

const (
	wokenByCallback wakeReason = iota // a callback may have arrived
	recheck                           // time to look again, in case a wake-up was lost
	waitOver                          // the wait the client asked for is over
	shuttingDown                      // one last look, then 404
	clientLeft
)

// wait blocks until something happens to the long-poll. It runs on the
// request's own goroutine, so it stays shallow and calls nothing deep.
func (lp *longPoll) wait(ctx context.Context, draining <-chan struct{}, nextRecheck func() time.Duration) wakeReason {
	select {
	case <-lp.wake:
		lp.woken = true
		return wokenByCallback
	case <-lp.timer.C:
		left := time.Until(lp.end)
		if left <= 0 {
			return waitOver
		}
		lp.timer.Reset(min(nextRecheck(), left))
		return recheck
	case <-draining:
		return shuttingDown
	case <-ctx.Done():
		return clientLeft
	}
}

// resume looks again after a wake-up, and either answers or leaves the
// request waiting. Whatever ends it (an answer, the client leaving, a
// panic), the wait ends with it.
func (s *server) resume(w http.ResponseWriter, r *http.Request, info *requestInfo, why wakeReason) {
	keepWaiting := false
	defer func() {
		if !keepWaiting {
			s.endLongPoll(info)
		}
	}()
	lp := info.longPoll
	var (
		cb  callback.Callback
		err error
	)
	switch why {
	case waitOver:
		err = callback.ErrNotFound
	case clientLeft:
		return // nobody to answer
	default:
		cb, err = s.take(r.Context(), lp.app, lp.state)
		if errors.Is(err, callback.ErrNotFound) && why != shuttingDown {
			keepWaiting = true
			return
		}
	}
	if err == nil && lp.woken {
		s.metrics.Woke(time.Since(laterOf(cb.ReceivedAt, lp.start)))
	}
	s.writeTake(w, r, lp.state, cb, err)
}

// endLongPoll unsubscribes and gives the waiter's place back.
func (s *server) endLongPoll(info *requestInfo) {
	lp := info.longPoll
	lp.cancel()
	if lp.timer != nil {
		lp.timer.Stop()
	}
	info.longPoll = nil
	s.releaseWaiter()
}

// onHelper runs f on a goroutine of its own and waits for it. A panic in f
// is raised again here, where net/http handles it as it would a panic in a
// handler.
func onHelper(f func()) {
	panicked := make(chan any, 1)
	go func() {
		defer func() { panicked <- recover() }()
		f()
	}()
	if p := <-panicked; p != nil {
		panic(p)
	}
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
