package redisstore

import (
	"context"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// partitionBudget is one partition's part of the byte budget
// (OAUTH_CALLBACK_MAX_MEMORY): a sixteenth of it, with the same shares.
// The shares then hold in every partition exactly, and in all of them
// together within how unevenly the states fall into partitions: a flood
// (or an app) whose states fill one partition's part first is refused
// there while others have room (docs/scaling.md has the figures).
type partitionBudget struct {
	all, unregistered, registrations int64 // 0: no budget
	store                            callback.StoreConfig
	totals                           []any // every total's field, for catchup.lua
	// caughtUp is, per partition, the last second this replica brought
	// its budget up to: catchup.lua runs at most once a second for it.
	caughtUp [partitions]atomic.Int64
}

func newBudget(store callback.StoreConfig) *partitionBudget {
	all := store.MaxBytes / partitions
	b := &partitionBudget{
		all:           all,
		unregistered:  int64(float64(all) * callback.UnregisteredShare),
		registrations: int64(float64(all) * callback.RegistrationShare),
		store:         store,
		totals:        []any{classUnregistered, classRegistration, classRegistered, budgetPending},
	}
	for _, app := range slices.Sorted(maps.Keys(store.AppShares)) {
		if _, _, ok := store.AppBudget(app); ok {
			b.totals = append(b.totals, budgetApp+app, budgetAppRegistrations+app)
		}
	}
	return b
}

// CatchUpArguments is how many arguments a partition's budget catch-up
// sends (EVALSHA, the script, the key count, the key, the second, the
// lifetime, every total): the one request whose length grows with the
// configuration, two for every app with a share. The others have a fixed
// few dozen.
func CatchUpArguments(store callback.StoreConfig) int {
	return 6 + len(newBudget(store).totals)
}

// appCap is owner's part of its share in one partition, in all and in
// registrations; 0 when it has no share of its own.
func (b *partitionBudget) appCap(owner string) (total, registrations int64) {
	t, r, ok := b.store.AppBudget(owner)
	if !ok {
		return 0, 0
	}
	return t / partitions, r / partitions
}

// checks are the shares bytes of class count against, add being what the
// step adds to them: the class's share, the whole, the app's; none
// without a budget.
func (b *partitionBudget) checks(class string, add int64, app string, appCap, appRegistrationsCap int64) []check {
	if b.all <= 0 {
		return nil
	}
	var out []check
	switch class {
	case classUnregistered:
		out = append(out, check{callback.PartUnregistered, []string{classUnregistered}, b.unregistered, add})
	case classRegistration:
		out = append(out, check{callback.PartRegistrations, []string{classRegistration}, b.registrations, add})
	}
	out = append(out, check{callback.PartBudget, []string{classUnregistered, classRegistration, classRegistered}, b.all, add})
	if app != "" && appCap > 0 {
		out = append(out, check{callback.PartApp, []string{budgetApp + app}, appCap, add})
		if class == classRegistration {
			out = append(out, check{callback.PartAppRegistrations, []string{budgetAppRegistrations + app}, appRegistrationsCap, add})
		}
	}
	return out
}

// catchUp adds catchup.lua for partition p to a step's pipeline, when
// this replica has not brought it up to now yet this second, and returns
// the function that notes it done once the pipeline ran.
func (b *partitionBudget) catchUp(ctx context.Context, pipe redis.Pipeliner, keys keyspace, p int, now time.Time, maxLife int64) func() {
	sec := second(now)
	if b.caughtUp[p].Load() >= sec {
		return func() {}
	}
	cmd := catchUpScript.EvalSha(ctx, pipe, []string{keys.budget(p)}, append([]any{sec, maxLife}, b.totals...)...)
	return func() {
		if cmd.Err() != nil {
			return // again next time
		}
		for last := b.caughtUp[p].Load(); last < sec && !b.caughtUp[p].CompareAndSwap(last, sec); last = b.caughtUp[p].Load() {
		}
	}
}

// recordOverhead is what a record costs Redis beyond its values: its key,
// the record and the sealed values' keys (measured: docs/benchmarks.md,
// "Memory"). It is counted with every registration and callback, so that
// the budget charges a callback its Size plus a cost that does not depend
// on what the provider sent.
const recordOverhead = 256

// second is t in the budget's seconds: Unix time, in seconds.
func second(t time.Time) int64 { return t.Unix() }

// heldUntil is what bytes of class count until until: they stop counting
// in the second until falls in, up to a second early. A replica whose
// clock is ahead or behind makes bytes count a little longer or shorter,
// never twice: what a step gives back comes off only while its second is
// still ahead of the budget's (step.lua).
func heldUntil(class string, bytes int, until time.Time) held {
	return held{class: class, bytes: int64(bytes), second: second(until)}
}

// maxLife is how many seconds ahead of its write a part may be: the
// longest phase that holds bytes (a TTL), and a margin.
func (s *Store) maxLife() int64 { return int64(s.ttl/time.Second) + 2 }
