package callback_test

import (
	"testing"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

func TestMaxBudgetIsTheInverseOfMinMaxmemory(t *testing.T) {
	for _, m := range []int64{0, 1, 2, 3, 99, 100, 101, 192 << 20, 70_000_000, 1<<30 + 1} {
		b := callback.MaxBudget(m)
		if callback.MinMaxmemory(b) > m || callback.MinMaxmemory(b+1) <= m {
			t.Errorf("MaxBudget(%d) = %d: MinMaxmemory of it %d, of one more %d", m, b, callback.MinMaxmemory(b), callback.MinMaxmemory(b+1))
		}
	}
	if got := callback.MinMaxmemory(64 << 20); got != 96<<20 {
		t.Errorf("MinMaxmemory(64MiB) = %d, want 96MiB: the rule docs/deployment.md states", got)
	}
}
