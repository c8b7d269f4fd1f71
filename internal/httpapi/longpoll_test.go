package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/httpapi"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/fake"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testwait"
)

// withLongPoll turns long-poll on. The re-check is out of reach, so a
// callback can reach a waiter only through its wake-up: these tests fail
// when the wake-up is gone.
func withLongPoll(maxWait time.Duration, maxWaiters int) func(*httpapi.Options) {
	return func(o *httpapi.Options) {
		o.LongPoll.MaxWait, o.LongPoll.MaxWaiters, o.LongPoll.Recheck = maxWait, maxWaiters, time.Hour
	}
}

// async runs a request in the background and returns its recorder when done.
func (f *fixture) async(t *testing.T, target string, header ...string) <-chan *httptest.ResponseRecorder {
	t.Helper()
	out := make(chan *httptest.ResponseRecorder, 1)
	go func() { out <- f.do(t, http.MethodGet, target, nil, header...) }()
	return out
}

func await(t *testing.T, ch <-chan *httptest.ResponseRecorder, within time.Duration) *httptest.ResponseRecorder {
	t.Helper()
	select {
	case rec := <-ch:
		return rec
	case <-time.After(within):
		t.Fatalf("no answer within %v", within)
		return nil
	}
}

func TestLongPollDeliversWhenTheCallbackArrives(t *testing.T) {
	f := newFixture(t, withLongPoll(time.Minute, 100))
	waiting := f.async(t, "/api/callback/lp?wait=30s")
	waitForMetric(t, f, "oauth_callback_waiters 1")
	wantStatus(t, f.get(t, "/callback?code=lp-code&state=lp"), http.StatusOK)
	rec := await(t, waiting, 10*time.Second)
	wantStatus(t, rec, http.StatusOK)
	if m := decode(t, rec); m["auth_code"] != "lp-code" {
		t.Errorf("body: %v", m)
	}
}

func TestLongPollWaitRunsOut(t *testing.T) {
	f := newFixture(t, withLongPoll(time.Minute, 100))
	start := time.Now()
	rec := await(t, f.async(t, "/api/callback/none?wait=0.2"), 10*time.Second)
	wantStatus(t, rec, http.StatusNotFound)
	if elapsed := time.Since(start); elapsed < 200*time.Millisecond {
		t.Errorf("answered after %v, before the 200ms wait ran out", elapsed)
	}
}

func TestLongPollAlreadyTakenAnswersAtOnce(t *testing.T) {
	f := newFixture(t, withLongPoll(time.Minute, 100))
	f.get(t, "/callback?code=c&state=s")
	f.get(t, "/api/callback/s")
	rec := await(t, f.async(t, "/api/callback/s?wait=30s"), 5*time.Second)
	wantStatus(t, rec, http.StatusGone)
}

func TestWaitParameters(t *testing.T) {
	f := newFixture(t, withLongPoll(2*time.Second, 100))
	tests := []struct {
		name    string
		target  string
		header  []string
		status  int
		applied string
	}{
		{"malformed query", "/api/callback/s?wait=soon", nil, 400, ""},
		{"negative query", "/api/callback/s?wait=-1s", nil, 400, ""},
		{"repeated query", "/api/callback/s?wait=1&wait=2", nil, 400, ""},
		{"malformed Prefer", "/api/callback/s", []string{"Prefer", "wait=soon"}, 400, ""},
		{"Prefer capped to the maximum", "/api/callback/s", []string{"Prefer", "respond-async, wait=1000"}, 404, "wait=2"},
		{"Prefer zero", "/api/callback/s", []string{"Prefer", "wait=0"}, 404, ""},
		{"other preferences only", "/api/callback/s", []string{"Prefer", "return=minimal"}, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := await(t, f.async(t, tt.target, tt.header...), 10*time.Second)
			wantStatus(t, rec, tt.status)
			if got := rec.Header().Get("Preference-Applied"); got != tt.applied {
				t.Errorf("Preference-Applied: got %q, want %q", got, tt.applied)
			}
		})
	}
}

func TestLongPollDoesNotLoseACallbackStoredDuringItsFirstLook(t *testing.T) {
	f := newFixture(t, withLongPoll(time.Minute, 100))
	// The interleaving that loses wake-ups in a naive long-poll, every
	// time: the callback is stored right after the waiter's first look has
	// found nothing, before it starts waiting.
	var once sync.Once
	base := f.store
	store := &fake.Store{Fallback: base, TakeFunc: func(ctx context.Context, app callback.App, state string) (callback.Callback, error) {
		cb, err := base.Take(ctx, app, state)
		once.Do(func() {
			if _, putErr := base.Put(ctx, callback.Callback{State: state, Code: "late-code"}); putErr != nil {
				panic(putErr)
			}
		})
		return cb, err
	}}
	f = newFixtureWithStore(t, store, withLongPoll(time.Minute, 100))
	start := time.Now()
	// The wait is longer than the periodic re-check (5 s), so only the
	// wake-up can answer within 4 s.
	rec := await(t, f.async(t, "/api/callback/race?wait=30s"), 30*time.Second)
	wantStatus(t, rec, http.StatusOK)
	if elapsed := time.Since(start); elapsed > 4*time.Second {
		t.Fatalf("delivered after %v: the wake-up was lost and only the re-check found it", elapsed)
	}
}

func TestTenWaitersOneWinner(t *testing.T) {
	f := newFixture(t, withLongPoll(time.Minute, 100))
	var answers []<-chan *httptest.ResponseRecorder
	for range 10 {
		answers = append(answers, f.async(t, "/api/callback/shared?wait=30s"))
	}
	waitForMetric(t, f, "oauth_callback_waiters 10")
	f.get(t, "/callback?code=c&state=shared")
	statuses := map[int]int{}
	for _, ch := range answers {
		statuses[await(t, ch, 10*time.Second).Code]++
	}
	if statuses[200] != 1 || statuses[410] != 9 {
		t.Fatalf("statuses: %v, want one 200 and nine 410", statuses)
	}
}

func TestShutdownAnswersWaiters(t *testing.T) {
	f := newFixture(t, withLongPoll(time.Minute, 100))
	waiting := f.async(t, "/api/callback/s?wait=50s")
	waitForMetric(t, f, "oauth_callback_waiters 1")
	close(f.draining)
	wantStatus(t, await(t, waiting, 5*time.Second), http.StatusNotFound)
	// While draining, a new long-poll is answered at once.
	wantStatus(t, await(t, f.async(t, "/api/callback/s?wait=50s"), 5*time.Second), http.StatusNotFound)
}

func TestWaitersAreBounded(t *testing.T) {
	f := newFixture(t, withLongPoll(time.Minute, 1))
	first := f.async(t, "/api/callback/a?wait=30s")
	waitForMetric(t, f, "oauth_callback_waiters 1")
	// Over the bound: answered at once, like a plain poll, and not "applied".
	rec := await(t, f.async(t, "/api/callback/b", "Prefer", "wait=30"), 5*time.Second)
	wantStatus(t, rec, http.StatusNotFound)
	if got := rec.Header().Get("Preference-Applied"); got != "" {
		t.Errorf("Preference-Applied %q on a wait that was not granted", got)
	}
	f.get(t, "/callback?code=c&state=a")
	wantStatus(t, await(t, first, 5*time.Second), http.StatusOK)
}

func TestWithoutWaitNothingWaits(t *testing.T) {
	f := newFixture(t, withLongPoll(time.Minute, 100))
	rec := await(t, f.async(t, "/api/callback/none"), 2*time.Second)
	wantStatus(t, rec, http.StatusNotFound)
	if rec.Header().Get("Preference-Applied") != "" {
		t.Error("Preference-Applied without Prefer")
	}
	if !strings.Contains(rec.Body.String(), "Callback not found or expired") {
		t.Errorf("body: %s", rec.Body)
	}
}

// A client that leaves while it waits gives its place back, gets nothing
// written, and is logged once.
func TestLongPollClientLeaves(t *testing.T) {
	f := newFixture(t, withLongPoll(time.Minute, 1))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		req := httptest.NewRequest(http.MethodGet, "/api/callback/gone?wait=30s", nil).WithContext(ctx)
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, req)
		done <- rec
	}()
	waitForMetric(t, f, "oauth_callback_waiters 1")
	cancel()
	rec := await(t, done, 5*time.Second)
	if rec.Body.Len() != 0 {
		t.Errorf("wrote to a client that left: %d %s", rec.Code, rec.Body)
	}
	waitForMetric(t, f, "oauth_callback_waiters 0")
	// The place it held is free again (the bound is 1).
	second := f.async(t, "/api/callback/next", "Prefer", "wait=30")
	waitForMetric(t, f, "oauth_callback_waiters 1")
	f.get(t, "/callback?code=c&state=next")
	rec = await(t, second, 5*time.Second)
	if rec.Code != http.StatusOK || rec.Header().Get("Preference-Applied") != "wait=30" {
		t.Errorf("second long-poll: %d, Preference-Applied %q", rec.Code, rec.Header().Get("Preference-Applied"))
	}
	if n := strings.Count(f.logs.String(), `"route":"/api/callback/{state}"`); n != 2 {
		t.Errorf("log lines for the two long-polls: %d, want 2:\n%s", n, f.logs)
	}
}

// waitForMetric waits until a line of /metrics equals want.
func waitForMetric(t *testing.T, f *fixture, want string) {
	t.Helper()
	testwait.MetricLine(t, 5*time.Second, func() (string, error) {
		rec := httptest.NewRecorder()
		f.metricsHandler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		return rec.Body.String(), nil
	}, want)
}

// Overload is graceful: more long-polls than the replica may hold are
// answered at once, like plain polls, and every one held is answered.
func TestMoreLongPollsThanTheLimitAreAllAnswered(t *testing.T) {
	f := newFixture(t, withLongPoll(time.Minute, 5))
	var held []<-chan *httptest.ResponseRecorder
	for i := range 5 {
		held = append(held, f.async(t, fmt.Sprintf("/api/callback/held-%d", i), "Prefer", "wait=30"))
	}
	waitForMetric(t, f, "oauth_callback_waiters 5")
	for i := range 15 {
		rec := await(t, f.async(t, fmt.Sprintf("/api/callback/over-%d", i), "Prefer", "wait=30"), 5*time.Second)
		if rec.Code != http.StatusNotFound || rec.Header().Get("Preference-Applied") != "" {
			t.Fatalf("long-poll over the limit: %d, Preference-Applied %q; want an immediate 404, not applied", rec.Code, rec.Header().Get("Preference-Applied"))
		}
	}
	waitForMetric(t, f, `oauth_callback_waits_refused_total{reason="waiters"} 15`)
	for i := range 5 {
		f.get(t, fmt.Sprintf("/callback?code=c%d&state=held-%d", i, i))
	}
	for i, ch := range held {
		rec := await(t, ch, 5*time.Second)
		if m := decode(t, rec); rec.Code != http.StatusOK || m["auth_code"] != fmt.Sprintf("c%d", i) {
			t.Errorf("held long-poll %d: %d %v", i, rec.Code, m)
		}
	}
}

// Near the memory limit, new long-polls are answered at once instead of
// adding to what the process holds.
func TestNearTheMemoryLimitLongPollsAreAnsweredAtOnce(t *testing.T) {
	var near atomic.Bool
	f := newFixture(t, withLongPoll(time.Minute, 100), func(o *httpapi.Options) { o.MemoryNearLimit = near.Load })
	near.Store(true)
	rec := await(t, f.async(t, "/api/callback/m", "Prefer", "wait=30"), 5*time.Second)
	if rec.Code != http.StatusNotFound || rec.Header().Get("Preference-Applied") != "" {
		t.Fatalf("near the limit: %d, Preference-Applied %q", rec.Code, rec.Header().Get("Preference-Applied"))
	}
	waitForMetric(t, f, `oauth_callback_waits_refused_total{reason="memory"} 1`)
	near.Store(false)
	waiting := f.async(t, "/api/callback/m", "Prefer", "wait=30")
	waitForMetric(t, f, "oauth_callback_waiters 1")
	f.get(t, "/callback?code=c&state=m")
	wantStatus(t, await(t, waiting, 5*time.Second), http.StatusOK)
}

// A panic while a request waits, or before it starts to, answers 500 and
// ends the wait: nothing keeps waiting, and the waiter's place is free.
func TestPanicEndsTheWait(t *testing.T) {
	f := newFixture(t, withLongPoll(time.Minute, 1))
	// A bug that shows only once a request waits: every take after the
	// first two (the first look, and the look once the subscription is
	// active) panics.
	var takes atomic.Int64
	base := f.store
	store := &fake.Store{Fallback: base, TakeFunc: func(ctx context.Context, app callback.App, state string) (callback.Callback, error) {
		if takes.Add(1) > 2 {
			panic("store bug")
		}
		return base.Take(ctx, app, state)
	}}
	f = newFixtureWithStore(t, store, withLongPoll(time.Minute, 1))
	waiting := f.async(t, "/api/callback/p?wait=30s")
	waitForMetric(t, f, "oauth_callback_waiters 1")
	testwait.Until(t, 5*time.Second, "both looks before the wait", func() bool { return takes.Load() == 2 })
	if _, err := base.Put(context.Background(), callback.Callback{State: "p", Code: "c"}); err != nil {
		t.Fatal(err)
	}
	rec := await(t, waiting, 5*time.Second)
	wantStatus(t, rec, http.StatusInternalServerError)
	waitForMetric(t, f, "oauth_callback_waiters 0")

	// The first look panics: the same, before any wait began.
	rec = await(t, f.async(t, "/api/callback/q?wait=30s"), 5*time.Second)
	wantStatus(t, rec, http.StatusInternalServerError)
	waitForMetric(t, f, "oauth_callback_waiters 0")
}
