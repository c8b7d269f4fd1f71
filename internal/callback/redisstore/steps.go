package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// step is one change of a sign-in, computed in Go from the record read:
// step.lua makes it only if the record is still that one.
type step struct {
	expected string        // the record it was computed from; "": none
	next     record        // the record after it
	ttl      time.Duration // how long the record lives from now; 0: keep its time to live
	// What the step counts in the partition's budget, and the checks it
	// must pass: the shares its bytes count against.
	admit    held
	admitApp string // the app charged; "": none
	checks   []check
	// What the record held, given back while the budget still counts it.
	release    held
	releaseApp string
	// The sealed values it moves, deletes or keeps as long as the record.
	renames [][2]string
	deletes []string
	expires []string
	wake    bool // wakes the state's waiters
}

// check is one share a step's bytes count against: the fields whose sum
// may not pass cap once the step adds add to it.
type check struct {
	part   callback.Part
	fields []string
	cap    int64
	add    int64
}

// outcome is what step.lua did.
type outcome struct {
	changed bool   // the record was not the one read: nothing was done
	current string // the record now ("" none), when changed
	renamed []bool // per rename, whether its key was there
}

// apply runs st in one pipeline: what before adds (a sealed value to
// write, the budget to catch up), step.lua, with MinReplicas WAIT, and
// what after adds (sealed values to read). A refusal of the budget is a
// FullError.
//
// With MinReplicas, WAIT follows every step that was made, and the step
// counts only once the replicas acknowledge it, or the caller gets
// ErrNotReplicated:
//   - a put: a callback is acknowledged to the person only once the
//     replicas hold it;
//   - a take: a code is handed out only once the replicas hold its
//     tombstone. Otherwise a take answered by a primary that a failover
//     then replaces is forgotten with that primary's last writes, and the
//     callback is handed out a second time by the new primary (the chaos
//     run found it: docs/reliability.md);
//   - a cancel: confirmed only once the replicas hold it, or a failover
//     could forget it;
//   - a registration and a link opened, as the rest.
//
// WAIT counts the replicas that acknowledged the writes of its own
// connection: a pipeline is one connection.
func (s *Store) apply(ctx context.Context, in signIn, st step, before, after func(redis.Pipeliner)) (outcome, error) {
	counting := st.admit.class != ""
	keys := append(append([]string{}, in.records...), in.budget)
	index := func(key string) string {
		keys = append(keys, key)
		return strconv.Itoa(len(keys))
	}
	args := []any{len(in.records), orNone(st.expected), st.next.String(), st.ttl.Milliseconds(), len(st.checks)}
	for _, c := range st.checks {
		args = append(args, len(c.fields))
		for _, f := range c.fields {
			args = append(args, f)
		}
		args = append(args, c.cap-c.add)
	}
	args = append(args, len(st.renames))
	for _, r := range st.renames {
		args = append(args, index(r[0]), index(r[1]))
	}
	args = append(args, len(st.deletes))
	for _, d := range st.deletes {
		args = append(args, index(d))
	}
	args = append(args, len(st.expires))
	for _, e := range st.expires {
		args = append(args, index(e), st.ttl.Milliseconds())
	}
	counts := counted(st.admit, st.admitApp, 1)
	args = append(args, len(counts)/2)
	args = append(args, counts...)
	releases := counted(st.release, st.releaseApp, -1)
	args = append(args, st.release.second, len(releases)/2)
	args = append(args, releases...)
	args = append(args, s.wake.publishCommand())
	if st.wake {
		args = append(args, len(in.channels))
		for _, ch := range in.channels {
			args = append(args, ch)
		}
	} else {
		args = append(args, 0)
	}

	run := func() (*redis.Cmd, *redis.Cmd) {
		pipe := s.client.Pipeline()
		if before != nil {
			before(pipe)
		}
		caughtUp := func() {}
		if counting { // the shares are checked on totals counted up to now
			caughtUp = s.budget.catchUp(ctx, pipe, s.keys, in.partition, s.now(), s.maxLife())
		}
		defer caughtUp()
		cmd := stepScript.EvalSha(ctx, pipe, keys, args...)
		var wait *redis.Cmd
		if s.minReplicas > 0 {
			wait = pipe.Do(ctx, "WAIT", s.minReplicas, s.minReplicasTimeout.Milliseconds())
		}
		if after != nil {
			after(pipe)
		}
		_, _ = pipe.Exec(ctx) // each command's error is its own
		return cmd, wait
	}
	cmd, wait := run()
	if isNoScript(cmd.Err()) {
		// The script did not run (what came before it did, and may again):
		// load the scripts and send the pipeline again.
		if err := LoadScripts(ctx, s.client); err != nil {
			return outcome{}, err
		}
		cmd, wait = run()
	}
	vals, err := cmd.Slice()
	if err != nil {
		return outcome{}, storeError("write the sign-in", err)
	}
	return s.outcomeOf(vals, st, wait)
}

// outcomeOf reads step.lua's reply, checked for its shape before anything
// is read from it (steps_test.go has a case per shape).
func (s *Store) outcomeOf(vals []any, st step, wait *redis.Cmd) (outcome, error) {
	if len(vals) == 0 {
		return outcome{}, errors.New("write the sign-in: empty reply")
	}
	switch vals[0] {
	case replyChanged:
		if len(vals) != 2 {
			return outcome{}, fmt.Errorf("write the sign-in: reply %v", vals)
		}
		current, _ := vals[1].(string) // false: none
		return outcome{changed: true, current: current}, nil
	case replyFull:
		c, ok := vals[len(vals)-1].(int64)
		if len(vals) != 2 || !ok || c < 1 || int(c) > len(st.checks) {
			return outcome{}, fmt.Errorf("write the sign-in: reply %v", vals)
		}
		return outcome{}, &callback.FullError{Part: st.checks[c-1].part}
	case replyDone:
		if len(vals) != 1+len(st.renames) {
			return outcome{}, fmt.Errorf("write the sign-in: reply %v for %d renames", vals, len(st.renames))
		}
		o := outcome{}
		for _, v := range vals[1:] {
			n, ok := v.(int64)
			if !ok {
				return outcome{}, fmt.Errorf("write the sign-in: reply %v", vals)
			}
			o.renamed = append(o.renamed, n == 1)
		}
		if wait != nil {
			acked, err := wait.Int64()
			if err != nil {
				return outcome{}, storeError("wait for the replicas", err)
			}
			if acked < int64(s.minReplicas) {
				return outcome{}, fmt.Errorf("%w: %d of %d", callback.ErrNotReplicated, acked, s.minReplicas)
			}
		}
		return o, nil
	}
	return outcome{}, fmt.Errorf("write the sign-in: unexpected reply %v", vals)
}

// counted is the budget fields and amounts h counts in (sign 1) or gives
// back (-1): its class's total and its second's part of it, the pending
// count's with a callback's, and the app's (app "": none), as flat pairs.
func counted(h held, app string, sign int64) []any {
	if h.class == "" {
		return nil
	}
	at := budgetPart + strconv.FormatInt(h.second, 10)
	var out []any
	add := func(field string, n int64) { out = append(out, field, sign*n, field+at, sign*n) }
	add(h.class, h.bytes)
	if h.class != classRegistration {
		add(budgetPending, 1)
	}
	if app != "" {
		add(budgetApp+app, h.bytes)
		if h.class == classRegistration {
			add(budgetAppRegistrations+app, h.bytes)
		}
	}
	return out
}

// maxAttempts bounds how often a step is computed again because the record
// changed in between: only concurrent steps of one state (a callback and a
// take, two takes) make it, and each attempt sees the other's result.
const maxAttempts = 5

// errContended: the record kept changing under the step.
var errContended = fmt.Errorf("%w: the sign-in kept changing", callback.ErrUnavailable)
