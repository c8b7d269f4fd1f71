// Package wakeup fans "a callback may have arrived" signals out to the
// long-poll waiters of one process.
package wakeup

import "sync"

// Hub delivers wake-ups to subscribers by key. A wake-up says only "look
// again": subscribers re-check the store, so coalesced or spurious wake-ups
// are harmless and a slow subscriber never blocks the sender.
type Hub struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

// NewHub returns an empty Hub.
func NewHub() *Hub { return &Hub{subs: make(map[string]map[chan struct{}]struct{})} }

// Subscribe returns a channel that receives after every Notify(key) (several
// may coalesce into one) and after NotifyAll, and a cancel func that must be
// called when the subscriber stops waiting.
func (h *Hub) Subscribe(key string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	set := h.subs[key]
	if set == nil {
		set = make(map[chan struct{}]struct{})
		h.subs[key] = set
	}
	set[ch] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			delete(set, ch)
			if len(h.subs[key]) == 0 {
				delete(h.subs, key)
			}
		})
	}
}

// Notify wakes every subscriber of key.
func (h *Hub) Notify(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[key] {
		wake(ch)
	}
}

// NotifyAll wakes every subscriber, for when wake-ups may have been missed
// (a pub/sub connection that was re-established).
func (h *Hub) NotifyAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, set := range h.subs {
		for ch := range set {
			wake(ch)
		}
	}
}

// Len is the number of keys with subscribers; for tests.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default: // a wake-up is already pending
	}
}
