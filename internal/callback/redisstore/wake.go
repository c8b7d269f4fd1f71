package redisstore

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/auth"

	"github.com/oauth-callback-server/oauth-callback-server/internal/wakeup"
)

// wakeups tells this replica's long-polls that a callback for their state
// may have arrived, on whichever replica it landed. Every state has a
// channel of its own (P{p}:wake:n), and a replica subscribes to a
// channel only while it holds a waiter for that state: a callback's
// publish reaches the replicas waiting for it, not every replica, and a
// replica with no waiter reads nothing. On Cluster the channels are
// sharded (SSUBSCRIBE, SPUBLISH from the scripts): a publish stays on the
// partition's node, instead of crossing the cluster bus to every node.
//
// Subscribing takes a round trip, and a callback published before the
// subscription is active is not delivered: so the subscription wakes its
// waiters once, when Redis confirms it, and they look again
// (callback.Notifier). The same goes for every subscription go-redis
// makes again after a connection was lost.
//
// Subscriptions and unsubscriptions are sent by one goroutine per
// connection, as many at once as have piled up: ten thousand long-polls
// arriving together cost a few commands, not ten thousand.
type wakeups struct {
	client  redis.UniversalClient
	cluster bool
	hub     *wakeup.Hub // the local waiters, by channel

	mu     sync.Mutex
	conns  map[int]*subscriptions // by partition on Cluster; partition 0 holds all otherwise
	extra  string                 // a channel of the previous release's, while the bridge wants it
	closed bool
}

func newWakeups(client redis.UniversalClient, cluster bool) *wakeups {
	w := &wakeups{client: client, cluster: cluster, conns: map[int]*subscriptions{}}
	w.hub = wakeup.NewWatchedHub(w.watch)
	return w
}

// publishCommand is what the scripts publish wake-ups with.
func (w *wakeups) publishCommand() string {
	if w.cluster {
		return "SPUBLISH"
	}
	return "PUBLISH"
}

// subscribe returns a waiter's channel for a state's wake-ups.
func (w *wakeups) subscribe(channel string) (<-chan struct{}, func()) {
	return w.hub.Subscribe(channel)
}

// watch runs when channel gets its first local waiter or loses its last
// (with the hub's lock held: it only marks and kicks).
func (w *wakeups) watch(channel string, _ bool) {
	w.connFor(channel).changed(channel)
}

// connFor is the connection a channel is subscribed on.
func (w *wakeups) connFor(channel string) *subscriptions {
	p := 0
	if w.cluster {
		p = partitionOfChannel(channel)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.conns[p]
	if c == nil {
		c = newSubscriptions(w, w.cluster)
		if !w.closed {
			go c.run()
		}
		w.conns[p] = c
	}
	return c
}

// partitionOfChannel is the partition whose tag a channel carries.
func partitionOfChannel(channel string) int {
	open, end := strings.IndexByte(channel, '{'), strings.IndexByte(channel, '}')
	if open >= 0 && end > open {
		for p, tag := range partitionTags {
			if channel[open+1:end] == tag {
				return p
			}
		}
	}
	return 0
}

// setExtra subscribes to (or, with "", leaves) a channel beside the
// states': the previous release's, on which it publishes a state's name.
func (w *wakeups) setExtra(channel string) {
	w.mu.Lock()
	old := w.extra
	w.extra = channel
	w.mu.Unlock()
	if old == channel {
		return
	}
	c := w.legacyConn()
	if old != "" {
		c.changed(old)
	}
	if channel != "" {
		c.changed(channel)
	}
}

// legacyConn carries the previous release's channel: a classic one, on a
// connection of its own on Cluster.
func (w *wakeups) legacyConn() *subscriptions {
	const legacyPartition = -1
	w.mu.Lock()
	defer w.mu.Unlock()
	p := 0
	if w.cluster {
		p = legacyPartition
	}
	c := w.conns[p]
	if c == nil {
		c = newSubscriptions(w, false)
		if !w.closed {
			go c.run()
		}
		w.conns[p] = c
	}
	return c
}

// wanted reports whether channel should be subscribed now.
func (w *wakeups) wanted(channel string) bool {
	w.mu.Lock()
	extra := w.extra
	w.mu.Unlock()
	if channel == extra {
		return true
	}
	return w.hub.Watched(channel)
}

// notify wakes the waiters of what a message on channel is about: the
// state of a channel of this store's, or the state a payload on the
// previous release's channel names.
func (w *wakeups) notify(channel, payload string) {
	w.mu.Lock()
	extra := w.extra
	w.mu.Unlock()
	if channel == extra && extra != "" {
		w.hub.NotifyWhere(func(key string) bool { return strings.HasSuffix(key, ":wake:"+payload) })
		return
	}
	w.hub.Notify(channel)
}

func (w *wakeups) close() {
	w.mu.Lock()
	w.closed = true
	conns := make([]*subscriptions, 0, len(w.conns))
	for _, c := range w.conns {
		conns = append(conns, c)
	}
	w.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// subscriptions is one pub/sub connection and the goroutine that keeps
// its subscriptions what the waiters want.
type subscriptions struct {
	w       *wakeups
	sharded bool

	mu      sync.Mutex
	dirty   map[string]bool // channels whose wanted state may have changed
	sent    map[string]bool // channels subscribed on the connection
	pubsub  *redis.PubSub
	kick    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
}

func newSubscriptions(w *wakeups, sharded bool) *subscriptions {
	return &subscriptions{w: w, sharded: sharded, dirty: map[string]bool{}, sent: map[string]bool{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
}

// changed marks channel for the next flush.
func (c *subscriptions) changed(channel string) {
	c.mu.Lock()
	c.dirty[channel] = true
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// run flushes whenever something changed, until close.
func (c *subscriptions) run() {
	defer close(c.stopped)
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
			c.flush()
		}
	}
}

// flush sends what changed since the last flush, as one SUBSCRIBE and one
// UNSUBSCRIBE at most.
func (c *subscriptions) flush() {
	c.mu.Lock()
	dirty := c.dirty
	c.dirty = map[string]bool{}
	c.mu.Unlock()
	wanted := make(map[string]bool, len(dirty))
	for channel := range dirty { // outside c.mu: wanted takes the hub's lock, which watch holds when it takes c.mu
		wanted[channel] = c.w.wanted(channel)
	}
	var subscribe, unsubscribe []string
	c.mu.Lock()
	for channel, want := range wanted {
		switch {
		case want && !c.sent[channel]:
			subscribe = append(subscribe, channel)
			c.sent[channel] = true
		case !want && c.sent[channel]:
			unsubscribe = append(unsubscribe, channel)
			delete(c.sent, channel)
		}
	}
	ps := c.pubsub
	c.mu.Unlock()
	ctx := context.Background()
	if len(subscribe) > 0 {
		if ps == nil {
			// The first channel picks the connection's node on Cluster.
			ps = c.open(ctx, subscribe)
		} else {
			_ = c.send(ctx, ps, true, subscribe)
		}
	}
	if len(unsubscribe) > 0 && ps != nil {
		_ = c.send(ctx, ps, false, unsubscribe)
	}
}

// open makes the connection's PubSub with its first channels, and starts
// reading it.
func (c *subscriptions) open(ctx context.Context, channels []string) *redis.PubSub {
	var ps *redis.PubSub
	if c.sharded {
		ps = c.w.client.SSubscribe(ctx, channels...)
	} else {
		ps = c.w.client.Subscribe(ctx, channels...)
	}
	c.mu.Lock()
	c.pubsub = ps
	c.mu.Unlock()
	go c.read(ps)
	return ps
}

// send (un)subscribes channels. An error is go-redis's to mend: it
// subscribes every channel it holds again when it reconnects.
func (c *subscriptions) send(ctx context.Context, ps *redis.PubSub, subscribe bool, channels []string) error {
	switch {
	case c.sharded && subscribe:
		return ps.SSubscribe(ctx, channels...)
	case c.sharded:
		return ps.SUnsubscribe(ctx, channels...)
	case subscribe:
		return ps.Subscribe(ctx, channels...)
	}
	return ps.Unsubscribe(ctx, channels...)
}

// read delivers the connection's messages: a confirmed subscription wakes
// its waiters once (they look again: what was published before is not
// delivered), a message wakes its state's. A shard channel unsubscribed
// by the server (its slot moved to another node) while waiters want it
// is subscribed again, on a connection to the slot's new node.
func (c *subscriptions) read(ps *redis.PubSub) {
	for msg := range ps.ChannelWithSubscriptions(redis.WithChannelHealthCheckInterval(time.Second)) {
		switch m := msg.(type) {
		case *redis.Subscription:
			switch m.Kind {
			case "subscribe", "ssubscribe":
				c.w.notify(m.Channel, "")
			case "sunsubscribe":
				c.lost(ps, m.Channel)
			}
		case *redis.Message:
			c.w.notify(m.Channel, m.Payload)
		}
	}
}

// lost handles a shard channel the server unsubscribed: when waiters
// still want it, this connection is done (its node no longer serves the
// slot), and the next flush opens one to the node that does.
func (c *subscriptions) lost(ps *redis.PubSub, channel string) {
	c.mu.Lock()
	if !c.sent[channel] || c.pubsub != ps {
		c.mu.Unlock()
		return // we asked for it, or it is an old connection's
	}
	c.mu.Unlock()
	c.drop(ps)
	c.w.hub.NotifyWhere(func(string) bool { return true }) // look again: something may have been missed
}

// reopen moves the connection's channels to a new connection, which signs
// in with the current token: the new subscriptions, once confirmed, wake
// their waiters to look again (read), which covers what was published in
// between.
func (c *subscriptions) reopen() {
	c.mu.Lock()
	ps := c.pubsub
	c.mu.Unlock()
	if ps != nil {
		c.drop(ps)
	}
}

// drop closes ps, if it is still the connection's, and has the next flush
// subscribe everything it held on a new one.
func (c *subscriptions) drop(ps *redis.PubSub) {
	c.mu.Lock()
	if c.pubsub != ps {
		c.mu.Unlock()
		return
	}
	for ch := range c.sent {
		c.dirty[ch] = true
	}
	c.sent = map[string]bool{}
	c.pubsub = nil
	c.mu.Unlock()
	_ = ps.Close()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// renewals hears the credentials provider's new tokens, and opens the
// store's subscriptions again with each (Options.Credentials).
type renewals struct{ w *wakeups }

func (r renewals) OnNext(auth.Credentials) { r.w.reopen() }

// OnError: the current subscriptions stay; the provider keeps its last
// good token and tries again.
func (r renewals) OnError(error) {}

// reopen opens every subscription connection again.
func (w *wakeups) reopen() {
	w.mu.Lock()
	conns := make([]*subscriptions, 0, len(w.conns))
	for _, c := range w.conns {
		conns = append(conns, c)
	}
	w.mu.Unlock()
	for _, c := range conns {
		c.reopen()
	}
}

func (c *subscriptions) close() {
	select {
	case <-c.stop:
		return
	default:
		close(c.stop)
	}
	c.mu.Lock()
	ps := c.pubsub
	c.mu.Unlock()
	if ps != nil {
		_ = ps.Close()
	}
}

// Subscribe implements callback.Notifier. Writers publish on the channel
// of every name they know the state by; a waiter listens on its first
// name's, which is among them whatever order the two hold their keys in.
func (s *Store) Subscribe(state string) (<-chan struct{}, func()) {
	in := s.signIn(state)
	return s.wake.subscribe(in.channels[0])
}
