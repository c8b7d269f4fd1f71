package redisstore

import (
	"time"

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
}

func budgetOf(store callback.StoreConfig) partitionBudget {
	all := store.MaxBytes / partitions
	return partitionBudget{
		all:           all,
		unregistered:  int64(float64(all) * callback.UnregisteredShare),
		registrations: int64(float64(all) * callback.RegistrationShare),
		store:         store,
	}
}

// app is owner's part of its share in one partition, in all and in
// registrations; 0 when it has no share of its own.
func (b partitionBudget) app(owner string) (total, registrations int64) {
	t, r, ok := b.store.AppBudget(owner)
	if !ok {
		return 0, 0
	}
	return t / partitions, r / partitions
}

// recordOverhead is what a record costs Redis beyond its values: the key,
// the hash and its field names (measured: docs/benchmarks.md, "Memory").
// It is counted with every registration and callback, so that the budget
// charges a callback its Size plus a cost that does not depend on what the
// provider sent.
const recordOverhead = 160

// second is t in the budget's seconds: Unix time, in seconds.
func second(t time.Time) int64 { return t.Unix() }

// bucketOf is the second in which bytes that count until until stop
// counting: the one it falls in, up to a second early. A replica whose
// clock is ahead or behind makes bytes count a little longer or shorter,
// never twice: what a take gives back comes off only while its bucket is
// still ahead of the totals (budget.lua).
func bucketOf(until time.Time) int64 { return second(until) }

// maxLife is how many seconds ahead of its write a bucket may be: the
// longest phase that holds bytes (a TTL), and a margin.
func (s *Store) maxLife() int64 { return int64(s.ttl/time.Second) + 2 }
