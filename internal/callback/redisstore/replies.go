package redisstore

import (
	"fmt"
	"slices"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// reply is a script's array reply. Its first element says what follows:
// the phase the script moved the record to, or replyStep, replyGuard or
// replyFull when it moved nothing. Every reply is checked for its shape
// before anything is read from it: a reply shorter than its first element
// promises, or with an element of another type, is an error, never an
// index out of range (replies_test.go has a case per shape).
type reply struct {
	op   string // what the caller was doing, for errors
	vals []any
}

func newReply(op string, vals []any) (reply, string, error) {
	r := reply{op: op, vals: vals}
	if len(vals) == 0 {
		return r, "", fmt.Errorf("%s: empty reply", op)
	}
	head, ok := vals[0].(string)
	if !ok {
		return r, "", fmt.Errorf("%s: reply %v does not start with a string", op, vals)
	}
	return r, head, nil
}

// need fails unless the reply has n elements exactly.
func (r reply) need(n int) error {
	if len(r.vals) != n {
		return fmt.Errorf("%s: reply has %d elements, want %d: %v", r.op, len(r.vals), n, r.vals)
	}
	return nil
}

// str is element i, a string; false is Lua's nil and reads as "".
func (r reply) str(i int) (string, error) {
	switch v := r.vals[i].(type) {
	case string:
		return v, nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("%s: reply element %d is %T, want a string", r.op, i, r.vals[i])
}

// flag is element i, a number 0 or 1.
func (r reply) flag(i int) (bool, error) {
	n, ok := r.vals[i].(int64)
	if !ok || (n != 0 && n != 1) {
		return false, fmt.Errorf("%s: reply element %d is %v, want 0 or 1", r.op, i, r.vals[i])
	}
	return n == 1, nil
}

// refusal is the error a reply that moved nothing stands for: the table's
// cell for the phase found and event (a put's reply names its own event),
// a guard's error, or the part of the budget that is full. ok is false
// when head is not such a reply.
func (r reply) refusal(head string, event callback.Event) (err error, ok bool) {
	switch head {
	case replyStep:
		if len(r.vals) != 2 && len(r.vals) != 3 {
			return r.need(3), true
		}
		phase, err := r.str(1)
		if err != nil {
			return err, true
		}
		if len(r.vals) == 3 {
			e, err := r.str(2)
			if err != nil {
				return err, true
			}
			event = callback.Event(e)
		}
		if !slices.Contains(callback.Phases, callback.Phase(phase)) || !slices.Contains(callback.Events, event) {
			return fmt.Errorf("%s: reply names phase %q and event %q", r.op, phase, event), true
		}
		step := callback.Next(callback.Phase(phase), event)
		if step.Err == nil {
			return fmt.Errorf("%s: the script refused %s in phase %s, which the table allows", r.op, event, phase), true
		}
		return step.Err, true
	case replyGuard:
		if err := r.need(2); err != nil {
			return err, true
		}
		which, err := r.str(1)
		if err != nil {
			return err, true
		}
		switch which {
		case guardIssuer:
			return callback.ErrIssuerMismatch, true
		case guardUnbound:
			return callback.ErrUnbound, true
		case guardNotRegistered:
			return callback.ErrNotRegistered, true
		}
		return fmt.Errorf("%s: unknown guard %q", r.op, which), true
	case replyFull:
		if err := r.need(2); err != nil {
			return err, true
		}
		which, err := r.str(1)
		if err != nil {
			return err, true
		}
		part, known := fullParts[which]
		if !known {
			return fmt.Errorf("%s: unknown part of the budget %q", r.op, which), true
		}
		return &callback.FullError{Part: part}, true
	}
	return nil, false
}

// unexpected is the error of a reply whose first element no case expects.
func (r reply) unexpected(head string) error {
	return fmt.Errorf("%s: unexpected reply %q: %v", r.op, head, r.vals)
}
