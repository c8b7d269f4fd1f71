package redisstore

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Subscribe implements callback.Notifier.
func (s *Store) Subscribe(state string) (<-chan struct{}, func()) {
	s.subOnce.Do(s.startSubscriber)
	// Writers publish every name they know the state by; a waiter's
	// first name is among them, whatever order the two hold their keys in.
	return s.waiters.Subscribe(s.sealer.Name(state))
}

// startSubscriber opens the process's one subscription. go-redis
// re-establishes it after a connection loss; every (re)subscription wakes
// all local waiters, so a callback published while the subscription was
// down is found by their re-check.
func (s *Store) startSubscriber() {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if s.closed {
		return
	}
	s.pubsub = s.client.Subscribe(context.Background(), s.storedChannel())
	messages := s.pubsub.ChannelWithSubscriptions(redis.WithChannelHealthCheckInterval(time.Second))
	s.subDone = make(chan struct{})
	go func() {
		defer close(s.subDone)
		for msg := range messages {
			switch m := msg.(type) {
			case *redis.Subscription:
				s.waiters.NotifyAll()
			case *redis.Message:
				s.waiters.Notify(m.Payload)
			}
		}
	}()
}
