package legacy

import "fmt"

// The Lua scripts' replies, typed. Each script answers an array whose first
// element is one of its codes below; the code says how many elements follow
// and of what kind. Every reply is checked for that shape before anything
// is read from it: a reply shorter than its code promises, or with an
// element of another type, is an error, never an index out of range
// (replies_test.go has a case per shape).

// fingerprintLen is the length of callback.Fingerprint, the head of every
// stored value.
const fingerprintLen = 32

// Codes of put.lua.
const (
	putDuplicate         = 0
	putStored            = 1 // {1, registered (1/0)[, registration, its name index]}
	putNotRegistered     = 2
	putConflict          = 3 // {3} conflicted already, {3, the discarded callback's name} conflicted now
	putConflictAfterTake = 4
	putOverBudget        = 5
	putUnbound           = 6
	putCancelled         = 7
	putLinkExpired       = 8
)

// Codes of take.lua.
const (
	takeNothing     = 0
	takeTaken       = 1 // {1, value, its name index, registration or false, its name index}
	takeTakenBefore = 2
	takeConflicted  = 3
	takeCancelled   = 4
	takeLinkExpired = 5
)

// Codes of cancel.lua.
const (
	cancelUnknown    = 0
	cancelCancelled  = 1 // {1, the released callback's name or false}
	cancelTaken      = 2
	cancelConflicted = 3
)

// Codes of start.lua.
const (
	startNone  = 0
	startFound = 1 // {1, first (1/0), registration, its name index}
)

// Codes of register.lua (a number, not an array).
const (
	registerExists     = 0
	registerStored     = 1
	registerOverBudget = 2
)

// Codes of cluster_admit.lua (a number).
const (
	admitRefused = 0 // over the budget or the class's share
	admitOK      = 1
)

// reply is a script's array reply.
type reply struct {
	op   string // what the caller was doing, for errors
	vals []any
}

// code is the reply's first element; it fails on an empty reply.
func (r reply) code() (int64, error) {
	if len(r.vals) == 0 {
		return 0, fmt.Errorf("%s: empty reply", r.op)
	}
	c, ok := r.vals[0].(int64)
	if !ok {
		return 0, fmt.Errorf("%s: reply code %v is not a number", r.op, r.vals[0])
	}
	return c, nil
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

// num is element i, a number.
func (r reply) num(i int) (int64, error) {
	n, ok := r.vals[i].(int64)
	if !ok {
		return 0, fmt.Errorf("%s: reply element %d is %T, want a number", r.op, i, r.vals[i])
	}
	return n, nil
}

// nameIndex is element i, a 1-based index into a state's n names.
func (r reply) nameIndex(i, n int) (int, error) {
	at, err := r.num(i)
	if err != nil {
		return 0, err
	}
	if at < 1 || int(at) > n {
		return 0, fmt.Errorf("%s: reply element %d names name %d of %d", r.op, i, at, n)
	}
	return int(at), nil
}

// putReply is put.lua's reply.
type putReply struct {
	code       int64
	registered bool   // putStored: the state was registered
	reg        string // putStored with a sign-in link: the registration
	regAt      int    // and its name index
	discarded  string // putConflict made now: the discarded callback's name
}

func parsePut(vals []any, names int) (putReply, error) {
	r := reply{op: "store callback", vals: vals}
	code, err := r.code()
	if err != nil {
		return putReply{}, err
	}
	out := putReply{code: code}
	switch code {
	case putStored:
		if len(vals) != 2 && len(vals) != 4 {
			return putReply{}, r.need(2)
		}
		registered, err := r.num(1)
		if err != nil {
			return putReply{}, err
		}
		out.registered = registered == 1
		if len(vals) == 4 {
			if out.reg, err = r.str(2); err != nil {
				return putReply{}, err
			}
			if out.regAt, err = r.nameIndex(3, names); err != nil {
				return putReply{}, err
			}
		}
	case putConflict:
		if len(vals) != 1 && len(vals) != 2 {
			return putReply{}, r.need(2)
		}
		if len(vals) == 2 {
			if out.discarded, err = r.str(1); err != nil {
				return putReply{}, err
			}
		}
	case putDuplicate, putNotRegistered, putConflictAfterTake, putOverBudget, putUnbound, putCancelled, putLinkExpired:
		if err := r.need(1); err != nil {
			return putReply{}, err
		}
	default:
		return putReply{}, fmt.Errorf("%s: unknown reply code %d", r.op, code)
	}
	return out, nil
}

// takeReply is take.lua's reply.
type takeReply struct {
	code  int64
	value string // takeTaken: fingerprint, then the sealed callback
	at    int    // its name index
	reg   string // its registration, "" when none
	regAt int    // and its name index
}

func parseTake(vals []any, names int) (takeReply, error) {
	r := reply{op: "take callback", vals: vals}
	code, err := r.code()
	if err != nil {
		return takeReply{}, err
	}
	out := takeReply{code: code}
	switch code {
	case takeTaken:
		if err := r.need(5); err != nil {
			return takeReply{}, err
		}
		if out.value, err = r.str(1); err != nil {
			return takeReply{}, err
		}
		if len(out.value) < fingerprintLen {
			return takeReply{}, fmt.Errorf("%s: a value of %d bytes has no fingerprint", r.op, len(out.value))
		}
		if out.at, err = r.nameIndex(2, names); err != nil {
			return takeReply{}, err
		}
		if out.reg, err = r.str(3); err != nil {
			return takeReply{}, err
		}
		if out.reg != "" {
			if out.regAt, err = r.nameIndex(4, names); err != nil {
				return takeReply{}, err
			}
		}
	case takeNothing, takeTakenBefore, takeConflicted, takeCancelled, takeLinkExpired:
		if err := r.need(1); err != nil {
			return takeReply{}, err
		}
	default:
		return takeReply{}, fmt.Errorf("%s: unknown reply code %d", r.op, code)
	}
	return out, nil
}

// cancelReply is cancel.lua's reply.
type cancelReply struct {
	code     int64
	released string // cancelCancelled: the discarded callback's name, "" when none
}

func parseCancel(vals []any) (cancelReply, error) {
	r := reply{op: "cancel", vals: vals}
	code, err := r.code()
	if err != nil {
		return cancelReply{}, err
	}
	out := cancelReply{code: code}
	switch code {
	case cancelCancelled:
		if err := r.need(2); err != nil {
			return cancelReply{}, err
		}
		if out.released, err = r.str(1); err != nil {
			return cancelReply{}, err
		}
	case cancelUnknown, cancelTaken, cancelConflicted:
		if err := r.need(1); err != nil {
			return cancelReply{}, err
		}
	default:
		return cancelReply{}, fmt.Errorf("%s: unknown reply code %d", r.op, code)
	}
	return out, nil
}

// startReply is start.lua's reply.
type startReply struct {
	code  int64
	first bool   // startFound: the link was opened for the first time
	reg   string // the registration
	regAt int    // and its name index
}

func parseStart(vals []any, names int) (startReply, error) {
	r := reply{op: "open link", vals: vals}
	code, err := r.code()
	if err != nil {
		return startReply{}, err
	}
	out := startReply{code: code}
	switch code {
	case startFound:
		if err := r.need(4); err != nil {
			return startReply{}, err
		}
		first, err := r.num(1)
		if err != nil {
			return startReply{}, err
		}
		out.first = first == 1
		if out.reg, err = r.str(2); err != nil {
			return startReply{}, err
		}
		if out.regAt, err = r.nameIndex(3, names); err != nil {
			return startReply{}, err
		}
	case startNone:
		if err := r.need(1); err != nil {
			return startReply{}, err
		}
	default:
		return startReply{}, fmt.Errorf("%s: unknown reply code %d", r.op, code)
	}
	return out, nil
}

// statusReply is status.lua's reply: {progress, milliseconds until what
// the state holds expires}.
type statusReply struct {
	progress string
	ms       int64
}

func parseStatus(vals []any) (statusReply, error) {
	r := reply{op: "read status", vals: vals}
	if err := r.need(2); err != nil {
		return statusReply{}, err
	}
	progress, err := r.str(0)
	if err != nil {
		return statusReply{}, err
	}
	if progress == "" {
		return statusReply{}, fmt.Errorf("%s: no progress in %v", r.op, vals)
	}
	ms, err := r.num(1)
	if err != nil {
		return statusReply{}, err
	}
	return statusReply{progress: progress, ms: ms}, nil
}
