package callback

// A Redis store needs more memory than the byte budget (StoreConfig.MaxBytes)
// it holds: its allocator rounds each value up (jemalloc keeps a 16.2 KiB
// value in a 20 KiB slot), and keys, tombstones and registrations' metadata
// come on top (docs/deployment.md, "Sizing Redis"). The rule is stated
// here once: check holds a Redis to it, and deploy/test holds the chart's
// bundled Redis to the same numbers.

// MaxmemoryRule is MinMaxmemory in words, for messages.
const MaxmemoryRule = "1.5 times"

// MinMaxmemory is the least maxmemory a Redis needs to hold a budget of
// callbacks and registrations (StoreConfig.MaxBytes).
func MinMaxmemory(budget int64) int64 { return budget * 3 / 2 }

// MaxBudget is the largest byte budget a Redis of maxmemory bytes holds:
// the inverse of MinMaxmemory.
func MaxBudget(maxmemory int64) int64 {
	b := maxmemory * 2 / 3
	for MinMaxmemory(b+1) <= maxmemory {
		b++
	}
	return b
}
