package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The anatomy of a script call: what Redis executes for one command with
// a round trip of its own, for one command of a pipeline, for a script
// call that runs nothing, with a step's arguments or without, and for one
// command inside a script. Counted like the workloads (callgrind, on the
// same Redis), with go-redis talking to Redis directly: no service, so
// every instruction is Redis's answer to the commands named.

// probe is one anatomy workload: one operation, and how many commands of
// the kind studied it holds (for the per-command figures).
type probe struct {
	name     string
	commands int
	op       func(ctx context.Context, rdb *redis.Client) error
}

// probeCount is a probe's count: instructions per operation, and the
// inclusive cost per call of the functions asked for.
type probeCount struct {
	perOp float64
	fn    map[string]float64 // instructions per call
}

// Scripts of the anatomy. The arguments of argsScript are a put's step's
// (stepArgs): two keys and thirty arguments, which it does not read.
var (
	emptyScript    = redis.NewScript(`return 1`)
	tenGetsScript  = redis.NewScript(`for i = 1, 10 do redis.call('GET', KEYS[1]) end return 1`)
	tenHincrScript = redis.NewScript(`for i = 1, 10 do redis.call('HINCRBY', KEYS[1], 'f', 1) end return 1`)
)

// stepKeys and stepArgs have the shape of a put's step.lua call: the
// record and the partition's budget, then its arguments (the record's new
// value, the budget's checks and counts, the publish command and the
// channel), of their usual lengths.
var (
	stepKeys = []string{"anatomy:{p64}:s:0123456789abcdef0123456789abcdef0123456789a", "anatomy:{p64}:budget"}
	stepArgs = []any{1, "-", "received 1767225600000 0123456789abcdef0123456789abcdef 0123456789abcdef01234567 - u:1234:1767225600 - - - -", 600000,
		2, 1, "u", 3355443, 3, "u", "g", "r", 4194304, 0, 0, 0,
		4, "u", 1234, "u@1767225600", 1234, "n", 1, "n@1767225600", 1, 0, 0, "PUBLISH", 1,
		"anatomy:{p64}:wake:0123456789abcdef0123456789abcdef0123456789a"}
)

var probes = []probe{
	{"`GET` of a missing key, a round trip of its own", 1, func(ctx context.Context, rdb *redis.Client) error {
		return ignoreNil(rdb.Get(ctx, "anatomy:missing").Err())
	}},
	{"ten `GET`s in one pipeline (per `GET`)", 10, func(ctx context.Context, rdb *redis.Client) error {
		pipe := rdb.Pipeline()
		for range 10 {
			pipe.Get(ctx, "anatomy:missing")
		}
		_, err := pipe.Exec(ctx)
		return ignoreNil(err)
	}},
	{"`EVALSHA` of `return 1`, no keys or arguments", 0, func(ctx context.Context, rdb *redis.Client) error {
		return emptyScript.EvalSha(ctx, rdb, nil).Err()
	}},
	{"`EVALSHA` of `return 1` with a put step's 2 keys and 30 arguments", 0, func(ctx context.Context, rdb *redis.Client) error {
		return emptyScript.EvalSha(ctx, rdb, stepKeys, stepArgs...).Err()
	}},
	{"`EVALSHA` of ten `GET`s of a missing key", 10, func(ctx context.Context, rdb *redis.Client) error {
		return tenGetsScript.EvalSha(ctx, rdb, []string{"anatomy:missing"}).Err()
	}},
	{"`EVALSHA` of ten `HINCRBY`s", 10, func(ctx context.Context, rdb *redis.Client) error {
		return tenHincrScript.EvalSha(ctx, rdb, []string{"anatomy:hash"}).Err()
	}},
}

// The probes' indexes, for the figures derived from them.
const (
	probeGet = iota
	probePipelinedGet
	probeEmptyScript
	probeScriptWithArgs
	probeScriptGets
	probeScriptHincrs
)

// anatomyFunctions are the Redis functions whose cost per call the
// section reports: the commands' own implementations, a script call
// whole, and a command called from a script (its arguments made from
// Lua's, the checks, call(), its reply made into Lua's again).
// call() is left out: the EVALSHA around the script runs in it too, so
// its inclusive cost per call mixes the two.
var anatomyFunctions = []string{"getCommand", "hincrbyCommand", "evalShaCommand", "scriptCall"}

// countProbes counts every probe on the callgrind Redis.
func countProbes(cg *callgrindRedis) ([]probeCount, error) {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: cg.addr, PoolSize: 1, ReadTimeout: time.Minute, WriteTimeout: time.Minute})
	defer rdb.Close()
	for _, sc := range []*redis.Script{emptyScript, tenGetsScript, tenHincrScript} {
		if err := sc.Load(ctx, rdb).Err(); err != nil {
			return nil, fmt.Errorf("load an anatomy script: %w", err)
		}
	}
	var out []probeCount
	for _, p := range probes {
		for range *instrWarmup {
			if err := p.op(ctx, rdb); err != nil {
				return nil, fmt.Errorf("%s, warm-up: %w", p.name, err)
			}
		}
		if err := cg.zero(); err != nil {
			return nil, err
		}
		for range *instrOps {
			if err := p.op(ctx, rdb); err != nil {
				return nil, fmt.Errorf("%s: %w", p.name, err)
			}
		}
		count, err := cg.dump()
		if err != nil {
			return nil, err
		}
		pc := probeCount{perOp: float64(count.opInstructions()) / float64(*instrOps), fn: map[string]float64{}}
		for _, fn := range anatomyFunctions {
			if c := count.callee(fn); c.calls > 0 {
				pc.fn[fn] = float64(c.inclusive) / float64(c.calls)
			}
		}
		out = append(out, pc)
	}
	return out, nil
}

// printAnatomy prints the probes' counts and what follows from them.
func printAnatomy(counts []probeCount) {
	fmt.Printf("\n### What a command costs alone, in a pipeline and in a script\n\n")
	fmt.Println("The same Redis, go-redis talking to it directly, one operation at a time on one connection, counted like the workloads above.")
	fmt.Println()
	fmt.Println("| operation | instructions/op | per command of it | the command's own function, per call |")
	fmt.Println("|---|---|---|---|")
	empty := counts[probeEmptyScript].perOp
	for i, p := range probes {
		c := counts[i]
		perCommand, own := "–", "–"
		switch i {
		case probeGet, probePipelinedGet:
			perCommand = thousands(c.perOp / float64(p.commands))
			own = "`getCommand` " + thousands(c.fn["getCommand"])
		case probeScriptGets:
			perCommand = thousands((c.perOp-empty)/float64(p.commands)) + " beyond the empty script's"
			own = "`getCommand` " + thousands(c.fn["getCommand"])
		case probeScriptHincrs:
			perCommand = thousands((c.perOp-empty)/float64(p.commands)) + " beyond the empty script's"
			own = "`hincrbyCommand` " + thousands(c.fn["hincrbyCommand"])
		}
		fmt.Printf("| %s | %s | %s | %s |\n", p.name, thousands(c.perOp), perCommand, own)
	}
	gets := counts[probeScriptGets]
	fmt.Printf("\nIn the script of ten `GET`s, one `redis.call` (`scriptCall`, inclusive) costs %s instructions, of which "+
		"`getCommand` %s; a script call (`evalShaCommand`, inclusive) of `return 1` %s, with the step's arguments %s. "+
		"Reproduce: `go -C bench run ./loadbench -bin %s -only instructions`.\n",
		thousands(gets.fn["scriptCall"]), thousands(gets.fn["getCommand"]),
		thousands(counts[probeEmptyScript].fn["evalShaCommand"]), thousands(counts[probeScriptWithArgs].fn["evalShaCommand"]), *binPath)
}

// cycleAnatomy says where a workload's instructions went: in script
// calls (their commands, and the rest: the call's fixed part), outside
// them, and in the byte budget's commands.
func cycleAnatomy(name string, c *instrCount, inScriptOverhead float64) string {
	per := func(n int64) float64 { return float64(n) / c.ops }
	scripts := c.dump.callee("evalShaCommand")
	inScript := c.dump.callee("scriptCall")
	outside := c.perOp - per(scripts.inclusive)
	topLevel := float64(countedCommands(c.calls)) - float64(inScript.calls) + float64(scripts.calls)
	// The budget's commands: the store uses hashes for nothing else.
	var budgetCommands, budgetOwn float64
	for _, cmd := range []string{"hincrby", "hmget", "hget", "hdel", "hset"} {
		budgetCommands += float64(c.calls[cmd])
		budgetOwn += float64(c.dump.callee(cmd + "Command").inclusive)
	}
	budget := (budgetOwn + budgetCommands*inScriptOverhead) / c.ops
	fixed := 0.0
	if scripts.calls > 0 {
		fixed = float64(scripts.inclusive-inScript.inclusive) / float64(scripts.calls)
	}
	inScriptPer := 0.0
	if inScript.calls > 0 {
		inScriptPer = float64(inScript.inclusive) / float64(inScript.calls)
	}
	return fmt.Sprintf("| %s | %s | %.1f, %s | %.2f, %s each: %s | %.1f, %s each: %s | %.1f: %s (%.0f %%) | %s |",
		name, thousands(c.perOp),
		topLevel/c.ops, thousands(outside),
		per(scripts.calls), thousands(fixed), thousands(per(scripts.inclusive-inScript.inclusive)),
		per(inScript.calls), thousands(inScriptPer), thousands(per(inScript.inclusive)),
		budgetCommands/c.ops, thousands(budget), 100*budget/c.perOp, commandsByName(c.calls, c.ops))
}

// printCycleAnatomy prints cycleAnatomy's rows for the workloads that
// have them.
func printCycleAnatomy(rows []namedCount, counts []probeCount) {
	// What a command inside a script costs beyond its own function, from
	// the ten HINCRBYs: the per-call figure for the budget's commands.
	h := counts[probeScriptHincrs]
	overhead := h.fn["scriptCall"] - h.fn["hincrbyCommand"]
	fmt.Printf("\n### Where a workload's instructions go\n\n")
	fmt.Printf("Per operation, from the same windows' dumps (inclusive costs of `evalShaCommand` and `scriptCall`) and `INFO commandstats`. "+
		"Outside scripts: every instruction not inside a script call: reading, parsing and answering each command, the event loop, and the "+
		"commands sent alone. The budget's commands are the hash commands (`HMGET`, `HINCRBY`, `HGET`, and catch-up's `HDEL`, `HSET`): "+
		"their own functions, plus %s per command for being called from a script (`scriptCall` less `hincrbyCommand` above). "+
		"The catch-up script's calls are among the script calls (the budget's other share: once a second per partition and replica).\n\n",
		thousands(overhead))
	fmt.Println("| workload | instructions/op | commands sent/op, instructions outside scripts | script calls/op, their own part each (arguments, Lua, the script's body): total | commands in scripts/op, each: total | budget's commands/op: instructions | commands/op by name |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Println(cycleAnatomy(r.name, r.count, overhead))
	}
}

// commandsByName is calls per operation of each command, most first.
func commandsByName(calls map[string]int, ops float64) string {
	type named struct {
		name string
		n    int
	}
	var all []named
	for name, n := range calls {
		if strings.HasPrefix(name, "config") || name == "info" {
			continue
		}
		all = append(all, named{name, n})
	}
	slices.SortFunc(all, func(a, b named) int { return cmp.Or(b.n-a.n, strings.Compare(a.name, b.name)) })
	var parts []string
	for _, c := range all {
		parts = append(parts, fmt.Sprintf("%s %.2f", strings.ToUpper(c.name), float64(c.n)/ops))
	}
	return strings.Join(parts, ", ")
}

// namedCount is a workload's count under a name.
type namedCount struct {
	name  string
	count *instrCount
}

// ignoreNil: a GET of a missing key answers nil, which is what it is for.
func ignoreNil(err error) error {
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}
