package redisstore

import (
	"context"
	_ "embed"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Two scripts, each a file with its arguments named on its first lines.
// step.lua is every change of a sign-in: a compare-and-set of its record
// with the step's writes, which the store computes in Go (steps.go), so
// that the state machine is applied in one place, as the memory store
// applies it. catchup.lua keeps a partition's budget counted up to now.
// What changes nothing is a plain command (record.go's look). The values
// the scripts compare and reply are Go constants, handed over as the
// locals of header: no script spells one alone.

// The first element of step.lua's reply.
const (
	replyDone    = "done"    // {DONE, 1 or 0 for each rename}
	replyChanged = "changed" // {CHANGED, the record now or false}
	replyFull    = "full"    // {FULL, the 1-based check that failed}
)

// header is the Lua that starts every script: its constants, as locals.
var header = func() string {
	var b strings.Builder
	for _, c := range []struct{ lua, value string }{
		{"NONE", none}, {"CAUGHT_UP", budgetCaughtUp}, {"PENDING", budgetPending}, {"PART", budgetPart},
		{"DONE", replyDone}, {"CHANGED", replyChanged}, {"FULL", replyFull},
	} {
		fmt.Fprintf(&b, "local %s = %q\n", c.lua, c.value)
	}
	return b.String()
}()

var (
	//go:embed scripts/step.lua
	stepLua string
	//go:embed scripts/catchup.lua
	catchUpLua string

	stepScript    = redis.NewScript(header + stepLua)
	catchUpScript = redis.NewScript(header + catchUpLua)
	scripts       = []*redis.Script{stepScript, catchUpScript}
)

// LoadScripts sends the store's scripts to Redis ahead of the first request,
// so that the first callback does not pay for a NOSCRIPT round trip. On
// Cluster, go-redis loads them on every primary.
func LoadScripts(ctx context.Context, client redis.UniversalClient) error {
	for _, s := range scripts {
		if err := s.Load(ctx, client).Err(); err != nil {
			return storeError("load scripts", err)
		}
	}
	return nil
}

// isNoScript reports whether err is Redis's NOSCRIPT: a script sent by
// its SHA in a pipeline that Redis did not have yet (Script.Run falls
// back to EVAL by itself; a pipeline cannot).
func isNoScript(err error) bool { return err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") }
