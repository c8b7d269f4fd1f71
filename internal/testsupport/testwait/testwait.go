// Package testwait is how tests wait: for something they can observe (a
// line in a log, a metric, a port that answers), checked every few
// milliseconds up to a bound, never for a time that happens to be long
// enough on one machine.
package testwait

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// every is how often Until looks again: often enough that a wait costs
// little more than the thing waited for, rarely enough to leave the CPU to
// what is being waited for.
const every = 5 * time.Millisecond

// Until calls cond until it returns true, and fails t ("never ...: what")
// if that takes longer than within: the bound a broken build fails at, not
// a figure a passing run waits for.
func Until(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never, within %v: %s", within, what)
		}
		time.Sleep(every)
	}
}

// MetricLine waits until the exposition scrape returns has a line equal to
// want, like "oauth_callback_waiters 1". A scrape error fails t at once.
func MetricLine(t testing.TB, within time.Duration, scrape func() (string, error), want string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		body, err := scrape()
		if err != nil {
			t.Fatalf("scrape the metrics: %v", err)
		}
		if slices.Contains(strings.Split(body, "\n"), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never, within %v: the metrics showing %q", within, want)
		}
		time.Sleep(every)
	}
}
