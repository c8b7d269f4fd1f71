// Package wakeup fans "a callback may have arrived" signals out to the
// long-poll waiters of one process.
package wakeup

import "sync"

// Hub delivers wake-ups to subscribers by key. A wake-up says only "look
// again": subscribers re-check the store, so coalesced or spurious wake-ups
// are harmless and a slow subscriber never blocks the sender.
//
// A key almost always has one subscriber (one MCP session waits for its
// state), so each key holds a small slice, not a set: at ten thousand
// waiters per replica every byte per waiter counts (docs/benchmarks.md).
type Hub struct {
	mu    sync.Mutex
	subs  map[string][]chan struct{}
	watch func(key string, watched bool)
}

// NewHub returns an empty Hub.
func NewHub() *Hub { return &Hub{subs: make(map[string][]chan struct{})} }

// NewWatchedHub returns an empty Hub that calls watch(key, true) when key
// gets its first subscriber and watch(key, false) when its last one
// leaves: a store subscribes to a key's wake-ups only while someone here
// waits for them. watch runs with the Hub's lock held: it must not block
// nor call the Hub.
func NewWatchedHub(watch func(key string, watched bool)) *Hub {
	h := NewHub()
	h.watch = watch
	return h
}

// Watched reports whether key has a subscriber.
func (h *Hub) Watched(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[key]) > 0
}

// Len is how many keys have a subscriber.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Subscribe returns a channel that receives after every Notify(key) (several
// may coalesce into one) and after NotifyAll, and a cancel func that must be
// called when the subscriber stops waiting; calling it again does nothing.
func (h *Hub) Subscribe(key string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	h.subs[key] = append(h.subs[key], ch)
	if len(h.subs[key]) == 1 && h.watch != nil {
		h.watch(key, true)
	}
	h.mu.Unlock()
	return ch, func() { h.unsubscribe(key, ch) }
}

func (h *Hub) unsubscribe(key string, ch chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	subs := h.subs[key]
	for i, c := range subs {
		if c != ch {
			continue
		}
		last := len(subs) - 1
		subs[i], subs[last] = subs[last], nil
		if last == 0 {
			delete(h.subs, key)
			if h.watch != nil {
				h.watch(key, false)
			}
		} else {
			h.subs[key] = subs[:last]
		}
		return
	}
}

// Notify wakes every subscriber of key.
func (h *Hub) Notify(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ch := range h.subs[key] {
		wake(ch)
	}
}

// NotifyWhere wakes every subscriber of a key for which match is true.
func (h *Hub) NotifyWhere(match func(key string) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for key, subs := range h.subs {
		if !match(key) {
			continue
		}
		for _, ch := range subs {
			wake(ch)
		}
	}
}

// NotifyAll wakes every subscriber, for when wake-ups may have been missed
// (a pub/sub connection that was re-established).
func (h *Hub) NotifyAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, subs := range h.subs {
		for _, ch := range subs {
			wake(ch)
		}
	}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default: // a wake-up is already pending
	}
}
