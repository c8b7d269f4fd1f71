package memlimit_test

import (
	"math"
	"runtime/debug"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/memlimit"
)

func TestStartSetsTheRuntimeLimitFromTheContainers(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })

	g := memlimit.Start(1<<30, false, time.Hour)
	defer g.Stop()
	share := memlimit.RuntimeShare
	if got, want := debug.SetMemoryLimit(-1), int64(float64(1<<30)*share); got != want || g.Limit() != want {
		t.Fatalf("runtime limit %d (guard %d), want %d", got, g.Limit(), want)
	}
	if g.Near() {
		t.Error("a test process is near 900 MiB")
	}
}

func TestAnOperatorsGOMEMLIMITWins(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	debug.SetMemoryLimit(512 << 20) // as GOMEMLIMIT=512MiB would
	g := memlimit.Start(1<<30, true, time.Hour)
	defer g.Stop()
	if got := debug.SetMemoryLimit(-1); got != 512<<20 {
		t.Fatalf("runtime limit %d, want the operator's", got)
	}
}

func TestNearWhenTheLimitIsBelowWhatIsUsed(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	// A limit this process already uses more than: near at once.
	g := memlimit.Start(1<<20, false, time.Hour)
	defer g.Stop()
	if !g.Near() {
		t.Error("not near a 1 MiB limit")
	}
}

func TestNoLimitNoGuard(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	debug.SetMemoryLimit(math.MaxInt64)
	g := memlimit.Start(0, false, time.Hour)
	if g != nil || g.Near() {
		t.Errorf("a guard without any limit: %+v", g)
	}
	g.Stop() // safe on nil
}
