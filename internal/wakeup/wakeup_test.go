package wakeup_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/oauth-callback-server/oauth-callback-server/internal/wakeup"
)

func received(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestNotifyWakesOnlyThatKey(t *testing.T) {
	h := wakeup.NewHub()
	a1, cancelA1 := h.Subscribe("a")
	a2, cancelA2 := h.Subscribe("a")
	b, cancelB := h.Subscribe("b")
	defer cancelB()
	h.Notify("a")
	h.Notify("a") // coalesces; never blocks
	if !received(a1) || !received(a2) {
		t.Fatal("subscribers of a not woken")
	}
	if received(a1) {
		t.Fatal("two notifies delivered twice to a full channel")
	}
	if received(b) {
		t.Fatal("subscriber of b woken by a")
	}
	cancelA1()
	cancelA2()
	cancelA2() // idempotent
	if h.Len() != 1 {
		t.Fatalf("keys left: %d, want 1", h.Len())
	}
}

func TestNotifyAll(t *testing.T) {
	h := wakeup.NewHub()
	a, ca := h.Subscribe("a")
	b, cb := h.Subscribe("b")
	defer ca()
	defer cb()
	h.NotifyAll()
	if !received(a) || !received(b) {
		t.Fatal("NotifyAll missed a subscriber")
	}
}

// A watched Hub says when a key gets its first subscriber and loses its
// last, and only then.
func TestWatchedHubSaysWhenAKeyIsWatched(t *testing.T) {
	var events []string
	h := wakeup.NewWatchedHub(func(key string, watched bool) { events = append(events, fmt.Sprint(key, " ", watched)) })
	_, cancelA := h.Subscribe("k")
	_, cancelB := h.Subscribe("k")
	if !h.Watched("k") || h.Watched("other") {
		t.Fatal("Watched: k should be, other not")
	}
	cancelA()
	cancelA() // again: nothing
	cancelB()
	if got, want := strings.Join(events, ", "), "k true, k false"; got != want {
		t.Fatalf("watch calls: %q, want %q", got, want)
	}
}
