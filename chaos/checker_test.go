package chaos

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// The model: one state's sign-in, as a correct service goes through it
// (docs/api.md). Every state is independent, so the checker partitions the
// history by state.
type phase int

const (
	phaseNone       phase = iota // never registered nor received
	phaseRegistered              // registered, no callback yet
	phasePending                 // a callback stored, not taken
	phaseTaken                   // handed out once
	phaseConflict                // two different callbacks: nobody gets either
	phaseCancelled               // cancelled by the MCP server
)

var phaseNames = [...]string{"none", "registered", "pending", "taken", "conflict", "cancelled"}

// signIn is the model's state: the phase, and the code pending or taken.
// undone, when set, is where the state was before a write whose answer
// never came: Redis ran it on a primary, reads saw it, and a failover may
// still take it back, since only an answered write was acknowledged by
// the replicas (WAIT). The next acknowledged write makes it durable.
type signIn struct {
	phase phase
	code  string

	undoable   bool
	undonePh   phase
	undoneCode string
}

func (s signIn) String() string {
	out := phaseNames[s.phase]
	if s.code != "" {
		out += "(" + s.code + ")"
	}
	if s.undoable {
		out += ", or " + signIn{phase: s.undonePh, code: s.undoneCode}.String() + " after a failover"
	}
	return out
}

// durable is s with nothing a failover could take back.
func (s signIn) durable() signIn { return signIn{phase: s.phase, code: s.code} }

// undo is the state a failover may go back to: the one before the
// unanswered writes since the last acknowledged one.
func (s signIn) undo() signIn { return signIn{phase: s.undonePh, code: s.undoneCode} }

// after is next, reached by an unanswered write from s: a failover may
// take it back to s, or to where s could be taken back to.
func after(s, next signIn) signIn {
	back := s.durable()
	if s.undoable {
		back = s.undo()
	}
	if next.durable() == back {
		return next.durable()
	}
	next = next.durable()
	next.undoable, next.undonePh, next.undoneCode = true, back.phase, back.code
	return next
}

// writes reports whether an answer says op changed the state on a
// primary and its replicas: stored, registered, cancelled, handed out.
func writes(op Op, got string) bool {
	switch op.Kind {
	case opRegister:
		return got == resRegistered
	case opCallback:
		return got == resStored
	case opTake:
		return strings.HasPrefix(got, resCode)
	case opCancel:
		return got == resCancelled
	}
	return false
}

// apply is what a correct service does with op in state s: the results
// it may answer, and the state after.
func apply(s signIn, op Op) (results []string, next signIn) {
	switch op.Kind {
	case opRegister:
		if s.phase == phaseNone {
			return []string{resRegistered}, signIn{phase: phaseRegistered}
		}
		return []string{resExists}, s
	case opCallback:
		switch s.phase {
		case phaseNone, phaseRegistered:
			return []string{resStored}, signIn{phase: phasePending, code: op.Code}
		case phasePending:
			if op.Code == s.code {
				return []string{resRefused}, s // the same again: a duplicate
			}
			return []string{resRefused}, signIn{phase: phaseConflict} // neither is ever handed out
		case phaseTaken, phaseConflict:
			return []string{resRefused}, s // a duplicate, or a conflict after the take
		case phaseCancelled:
			return []string{resCancelled}, s
		}
	case opTake:
		switch s.phase {
		case phaseNone, phaseRegistered:
			return []string{resNotFound}, s
		case phasePending:
			return []string{resCode + ":" + s.code}, signIn{phase: phaseTaken, code: s.code}
		case phaseTaken:
			return []string{resTaken}, s
		case phaseConflict:
			return []string{resConflict}, s
		case phaseCancelled:
			return []string{resCancelled}, s
		}
	case opCancel:
		switch s.phase {
		case phaseNone:
			return []string{resNotFound}, s
		case phaseRegistered, phasePending, phaseCancelled:
			return []string{resCancelled}, signIn{phase: phaseCancelled}
		case phaseTaken:
			return []string{resTaken}, s
		case phaseConflict:
			return []string{resConflict}, s
		}
	}
	panic(fmt.Sprintf("model: %s in %s", op.Kind, s))
}

// answer is an operation's result as the model compares it.
func answer(op Op) string {
	if op.Kind == opTake && op.Result == resCode {
		return resCode + ":" + op.Code
	}
	return op.Result
}

// model is porcupine's: an unknown outcome may have taken effect or not.
// With loss allowed (Cluster: no WAIT), what a primary acknowledged may
// also be gone after a failover: any state may fall back to one the state
// was in before, which the invariants then count.
func model(allowLoss bool) porcupine.Model {
	return (&porcupine.NondeterministicModel{
		Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
			byState := map[string][]porcupine.Operation{}
			var states []string
			for _, o := range history {
				st := o.Input.(Op).State
				if _, ok := byState[st]; !ok {
					states = append(states, st)
				}
				byState[st] = append(byState[st], o)
			}
			var out [][]porcupine.Operation
			for _, st := range states {
				out = append(out, byState[st])
			}
			return out
		},
		Init: func() []interface{} { return []interface{}{signIn{}} },
		Step: func(state, input, output interface{}) []interface{} {
			s, op := state.(signIn), input.(Op)
			got := output.(string)
			var out []interface{}
			// The state as reads see it, or, after a failover, as it was
			// before the writes nobody was answered.
			from := []signIn{s}
			if s.undoable {
				from = append(from, s.undo())
			}
			for _, f := range from {
				results, next := apply(f, op)
				switch {
				case got == resUnknown:
					out = append(out, f, after(f, next)) // it happened, or it did not
				case slices.Contains(results, got) && writes(op, got):
					out = append(out, next.durable())
				case slices.Contains(results, got) && next.durable() == f.durable():
					out = append(out, f) // a read: what may be undone still may
				case slices.Contains(results, got):
					out = append(out, next.durable()) // a refusal that changed the state: a conflict
				}
			}
			if allowLoss && len(out) == 0 && s.phase != phaseNone {
				// What a lost write leaves: the state as before its callback.
				// Or, for a read, what a node without the write answered
				// while it was primary: the write may come back with the
				// node that has it, so the state stays as it was too.
				for _, earlier := range []signIn{{phase: phaseNone}, {phase: phaseRegistered}} {
					if r, n := apply(earlier, op); got == resUnknown || slices.Contains(r, got) {
						out = append(out, n)
						if got != resUnknown && n == earlier {
							out = append(out, s)
						}
					}
				}
			}
			return out
		},
		Equal: func(a, b interface{}) bool { return a.(signIn) == b.(signIn) },
		DescribeOperation: func(input, output interface{}) string {
			op := input.(Op)
			code := ""
			if op.Kind == opCallback {
				code = " " + op.Code
			}
			return fmt.Sprintf("%s%s on replica %d → %s", op.Kind, code, op.Replica, output)
		},
		DescribeState: func(state interface{}) string { return state.(signIn).String() },
	}).ToModel()
}

// operations is the history as porcupine reads it.
func operations(h History) []porcupine.Operation {
	ops := make([]porcupine.Operation, 0, len(h.Ops))
	for _, o := range h.Ops {
		ops = append(ops, porcupine.Operation{ClientId: o.Client, Input: o, Call: o.Call, Output: answer(o), Return: o.Return})
	}
	return ops
}

// Verdict is what the checker found in a history.
type Verdict struct {
	Linearizable porcupine.CheckResult
	Info         porcupine.LinearizationInfo
	// Violations are the invariants broken, each a sentence.
	Violations []string
	// Counts of what happened, for the report.
	Ops, Unknown, Acknowledged, Delivered, Lost, AnswerLost int
	Faults                                                  map[string]int
	// PartitionedUnanswered and PartitionedOps: the requests to a replica
	// cut from Redis, made while it was, that got no answer (the store's
	// timeout, a 503), of all of them: that the partition took effect.
	PartitionedUnanswered, PartitionedOps int
}

// Check checks h: linearizability against the model (porcupine), and the
// invariants stated plainly.
func Check(h History, allowLoss bool, timeout time.Duration) Verdict {
	v := Verdict{Faults: map[string]int{}}
	v.Linearizable, v.Info = porcupine.CheckOperationsVerbose(model(allowLoss), operations(h), timeout)
	for _, f := range h.Faults {
		v.Faults[f.Kind]++
		if f.Kind != faultPartition {
			continue
		}
		for _, o := range h.Ops {
			if fmt.Sprintf("replica %d", o.Replica) == f.Target && o.Call >= f.Start && o.Call < f.End {
				v.PartitionedOps++
				if o.Result == resUnknown {
					v.PartitionedUnanswered++
				}
			}
		}
	}
	sent := map[string]map[string]bool{} // state → codes sent
	type outcome struct {
		acked, conflict, cancelled, sawTaken, unknownTake bool
		delivered                                         []string
	}
	states := map[string]*outcome{}
	of := func(st string) *outcome {
		if states[st] == nil {
			states[st] = &outcome{}
		}
		return states[st]
	}
	deliveredTo := map[string]int{} // code → takers
	for _, o := range h.Ops {
		v.Ops++
		s := of(o.State)
		switch {
		case o.Result == resUnexpected:
			v.Violations = append(v.Violations, fmt.Sprintf("%s of %s on replica %d was answered %s", o.Kind, o.State, o.Replica, o.Detail))
		case o.Result == resUnknown:
			v.Unknown++
			if o.Kind == opTake {
				s.unknownTake = true // it may have taken the code: a 503 from WAIT, a cut connection
			}
		}
		switch {
		case o.Kind == opCallback:
			if sent[o.State] == nil {
				sent[o.State] = map[string]bool{}
			}
			sent[o.State][o.Code] = true
			if o.Result == resStored {
				s.acked = true
			}
		case o.Kind == opTake && o.Result == resCode:
			s.delivered = append(s.delivered, o.Code)
			deliveredTo[o.Code]++
		case o.Kind == opTake && o.Result == resTaken:
			s.sawTaken = true
		case o.Result == resConflict:
			s.conflict = true
		case o.Result == resCancelled:
			s.cancelled = true
		}
	}
	stateNames := make([]string, 0, len(states))
	for st := range states {
		stateNames = append(stateNames, st)
	}
	sort.Strings(stateNames)
	for _, st := range stateNames {
		s := states[st]
		for _, c := range s.delivered {
			if !sent[st][c] {
				v.Violations = append(v.Violations, fmt.Sprintf("state %s handed out %s, which no callback sent for it", st, c))
			}
		}
		if s.conflict && len(s.delivered) > 0 {
			v.Violations = append(v.Violations, fmt.Sprintf("state %s was conflicted and still handed out %s", st, strings.Join(s.delivered, ", ")))
		}
		if !s.acked {
			continue
		}
		v.Acknowledged++
		switch {
		case len(s.delivered) > 0:
			v.Delivered++
		case s.conflict || s.cancelled:
		case s.sawTaken, s.unknownTake:
			v.AnswerLost++ // taken, by a take whose answer a fault cut off (porcupine holds it to one)
		default:
			v.Lost++
			if !allowLoss {
				v.Violations = append(v.Violations, fmt.Sprintf("state %s: its callback was acknowledged and never handed out", st))
			}
		}
	}
	for c, n := range deliveredTo {
		if n > 1 {
			v.Violations = append(v.Violations, fmt.Sprintf("code %s was handed to %d takers", c, n))
		}
	}
	if v.Linearizable != porcupine.Ok {
		v.Violations = append(v.Violations, fmt.Sprintf("the history is not linearizable (porcupine: %s)", v.Linearizable))
	}
	sort.Strings(v.Violations)
	return v
}
