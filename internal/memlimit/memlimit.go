// Package memlimit keeps the process inside its container's memory. It
// sets the Go runtime's soft memory limit (GOMEMLIMIT) to a share of the
// container's limit, so that the garbage collector works harder, and gives
// memory back, before the kernel would kill the pod; and it says when the
// process nears that limit, so that the service refuses new long-polls
// (answering them as plain polls) instead of taking on more than it holds.
package memlimit

import (
	"math"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// RuntimeShare is the part of the container's limit given to the Go
// runtime as its soft limit; the rest is for what the runtime does not
// count (thread stacks, the binary) and for headroom.
const RuntimeShare = 0.9

// NearShare is the part of the runtime's limit past which new long-polls
// are refused.
const NearShare = 0.9

// What a replica's memory holds besides its long-polls, and what one held
// long-poll costs: measured 27 KB of stack and heap beside net/http's 21 KB
// alone (docs/benchmarks.md, "Capacity"), with headroom.
const (
	BaseBytes      = 32 << 20 // a replica holding nothing
	BytesPerWaiter = 32_000
)

// Waiters is how many long-polls fit in a container of containerLimit
// bytes: RuntimeShare of it, less BaseBytes and held (what else the process
// keeps, such as the memory store's byte budget), at BytesPerWaiter each.
// It is negative when even those do not fit.
func Waiters(containerLimit, held int64) int64 {
	return (int64(float64(containerLimit)*RuntimeShare) - BaseBytes - held) / BytesPerWaiter
}

// Guard samples the process's memory against the runtime's limit.
type Guard struct {
	limit int64 // the runtime's soft limit, bytes
	near  atomic.Bool
	stop  chan struct{}
	done  chan struct{}
}

// Start sets the runtime's soft limit to RuntimeShare of containerLimit,
// unless the operator set GOMEMLIMIT (then that one counts), and samples
// memory every interval. With neither, it returns nil: Near is then always
// false.
func Start(containerLimit int64, gomemlimitSet bool, interval time.Duration) *Guard {
	if containerLimit > 0 && !gomemlimitSet {
		debug.SetMemoryLimit(int64(float64(containerLimit) * RuntimeShare))
	}
	limit := debug.SetMemoryLimit(-1) // reads it
	if limit <= 0 || limit == math.MaxInt64 {
		return nil
	}
	g := &Guard{limit: limit, stop: make(chan struct{}), done: make(chan struct{})}
	g.sample()
	go g.loop(interval)
	return g
}

// Limit is the runtime's soft memory limit, bytes.
func (g *Guard) Limit() int64 { return g.limit }

// Near reports whether the process uses more than NearShare of the limit.
func (g *Guard) Near() bool { return g != nil && g.near.Load() }

// Stop ends the sampling.
func (g *Guard) Stop() {
	if g == nil {
		return
	}
	close(g.stop)
	<-g.done
}

func (g *Guard) loop(interval time.Duration) {
	defer close(g.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
			g.sample()
		}
	}
}

// sample reads what the runtime counts against its limit: all memory it
// mapped, less what it gave back to the system.
func (g *Guard) sample() {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	total, released := s[0].Value.Uint64(), s[1].Value.Uint64()
	used := total - min(released, total)
	g.near.Store(float64(used) > float64(g.limit)*NearShare)
}
