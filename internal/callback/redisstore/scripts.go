package redisstore

import (
	"context"
	_ "embed"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// The scripts do what must be atomic: each step of the state machine that
// changes a record (phase.go), with its budget, in one call on the
// partition's node. Reads that change nothing (a take that finds no
// callback, a status) are plain commands (take.go, status.go).
//
// Each script is its own file, with its arguments named on its first
// lines; record.lua (finding and writing a record) and budget.lua (the
// partition's byte budget) come before the scripts that use them. The
// values the scripts compare, reply and write are Go constants, handed
// over as the locals of header: no script spells one alone.

// A script that made its step replies the phase the record is in now,
// followed by what the caller needs of it; one that did not, one of these
// first elements.
const (
	replyStep  = "step"  // the table's cell decides: {STEP, phase[, event]}
	replyGuard = "guard" // a guard refused the callback: {GUARD, which}
	replyFull  = "full"  // the budget: {FULL, part}
)

// The guards a callback meets before the table (callback.Transitions).
const (
	guardIssuer        = "issuer"         // ErrIssuerMismatch
	guardUnbound       = "unbound"        // ErrUnbound
	guardNotRegistered = "not-registered" // ErrNotRegistered
)

// The parts of the budget a script may find full, as callback.Part.
var fullParts = map[string]callback.Part{
	"budget":            callback.PartBudget,
	"unregistered":      callback.PartUnregistered,
	"registrations":     callback.PartRegistrations,
	"app":               callback.PartApp,
	"app-registrations": callback.PartAppRegistrations,
}

// header is the Lua that starts every script: its constants, as locals.
var header = func() string {
	var b strings.Builder
	local := func(name, value string) { fmt.Fprintf(&b, "local %s = %q\n", name, value) }
	for _, f := range []struct{ lua, value string }{
		{"PHASE", fieldPhase}, {"UNTIL", fieldUntil}, {"OWNER", fieldOwner}, {"LINK", fieldLink},
		{"ISSUER", fieldIssuer}, {"REG", fieldReg}, {"FP", fieldFP}, {"CB", fieldCB}, {"HELD", fieldHeld},
		{"APP_CAP", fieldAppCap},
		{"SECOND", budgetSecond}, {"UNREGISTERED", classUnregistered}, {"REGISTRATION", classRegistration},
		{"REGISTERED_CALLBACKS", classRegistered}, {"PENDING", budgetPending}, {"APP", budgetApp},
		{"APP_REGISTRATIONS", budgetAppRegistrations},
		{"ANY_APP", anyApp},
		{"UNKNOWN", string(callback.PhaseUnknown)}, {"REGISTERED", string(callback.PhaseRegistered)},
		{"STARTED", string(callback.PhaseStarted)}, {"RECEIVED", string(callback.PhaseReceived)},
		{"TAKEN", string(callback.PhaseTaken)}, {"CONFLICT", string(callback.PhaseConflict)},
		{"CANCELLED", string(callback.PhaseCancelled)}, {"EXPIRED", string(callback.PhaseExpired)},
		{"CALLBACK", string(callback.EventCallback)}, {"SAME_CALLBACK", string(callback.EventSameCallback)},
		{"STEP", replyStep}, {"GUARD", replyGuard}, {"FULL", replyFull},
		{"GUARD_ISSUER", guardIssuer}, {"GUARD_UNBOUND", guardUnbound}, {"GUARD_NOT_REGISTERED", guardNotRegistered},
		{"PART_BUDGET", "budget"}, {"PART_UNREGISTERED", "unregistered"}, {"PART_REGISTRATIONS", "registrations"},
		{"PART_APP", "app"}, {"PART_APP_REGISTRATIONS", "app-registrations"},
	} {
		local(f.lua, f.value)
	}
	return b.String()
}()

// anyApp is the caller's app in a script's arguments when no apps are
// configured (callback.AnyApp): no app's name, which are letters, digits,
// - and _. An empty app fails closed.
const anyApp = "*"

// appArg is app as the scripts read it.
func appArg(app callback.App) string {
	if app.IsAny() {
		return anyApp
	}
	return app.Owner()
}

var (
	//go:embed scripts/record.lua
	recordLua string
	//go:embed scripts/budget.lua
	budgetLua string
	//go:embed scripts/register.lua
	registerLua string
	//go:embed scripts/put.lua
	putLua string
	//go:embed scripts/take.lua
	takeLua string
	//go:embed scripts/cancel.lua
	cancelLua string
	//go:embed scripts/start.lua
	startLua string
	//go:embed scripts/pending.lua
	pendingLua string

	registerScript = redis.NewScript(header + recordLua + budgetLua + registerLua)
	putScript      = redis.NewScript(header + recordLua + budgetLua + putLua)
	takeScript     = redis.NewScript(header + recordLua + budgetLua + takeLua)
	cancelScript   = redis.NewScript(header + recordLua + budgetLua + cancelLua)
	startScript    = redis.NewScript(header + recordLua + startLua)
	pendingScript  = redis.NewScript(header + budgetLua + pendingLua)
	scripts        = []*redis.Script{registerScript, putScript, takeScript, cancelScript, startScript, pendingScript}
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
