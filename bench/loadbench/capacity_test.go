package main

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// Each way of sending wakes every held request exactly once, and says
// when each wake-up was due and when it returned.
func TestSendWakeUps(t *testing.T) {
	for _, tt := range []struct {
		name          string
		rate, senders int
	}{{"at a rate", 1000, 0}, {"from senders", 0, 3}} {
		t.Run(tt.name, func(t *testing.T) {
			rate0, senders0 := *wakeRate, *wakeSenders
			*wakeRate, *wakeSenders = tt.rate, tt.senders
			t.Cleanup(func() { *wakeRate, *wakeSenders = rate0, senders0 })
			const n = 40
			var mu sync.Mutex
			woken := map[int]int{}
			sent, acked := make([]time.Time, n), make([]time.Time, n)
			err := sendWakeUps(n, func(k int) error {
				mu.Lock()
				woken[k]++
				mu.Unlock()
				return nil
			}, sent, acked)
			if err != nil {
				t.Fatal(err)
			}
			for k := range n {
				if woken[k] != 1 {
					t.Errorf("request %d woken %d times", k, woken[k])
				}
				if sent[k].IsZero() || acked[k].Before(sent[k]) {
					t.Errorf("request %d: due %v, returned %v", k, sent[k], acked[k])
				}
			}
		})
	}
}

func TestSendWakeUpsStopsAtAnError(t *testing.T) {
	rate0 := *wakeRate
	*wakeRate = 0
	t.Cleanup(func() { *wakeRate = rate0 })
	boom := errors.New("boom")
	err := sendWakeUps(10, func(k int) error { return boom }, make([]time.Time, 10), make([]time.Time, 10))
	if !errors.Is(err, boom) {
		t.Errorf("got %v, want %v", err, boom)
	}
}
