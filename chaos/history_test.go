package chaos

import (
	"encoding/json"
	"os"
	"sync"
	"time"
)

// Op is one operation of a history: what a client asked of which replica,
// what it was answered, and when (nanoseconds since the run began).
type Op struct {
	Client  int    `json:"client"`
	Replica int    `json:"replica"`
	Kind    string `json:"kind"` // register, callback, take, cancel
	State   string `json:"state"`
	// Code is, for a callback, the code sent; for a take answered 200, the
	// code received.
	Code   string `json:"code,omitempty"`
	Result string `json:"result"`
	Call   int64  `json:"call"`
	// Return is when the answer came; for an unknown outcome (a timeout, a
	// 503, a connection cut) the operation may take effect at any time
	// after its call, and Return is the end of the history.
	Return int64 `json:"return"`
	// Detail is what an unexpected answer was (status and body).
	Detail string `json:"detail,omitempty"`
}

// The kinds of operation.
const (
	opRegister = "register"
	opCallback = "callback"
	opTake     = "take"
	opCancel   = "cancel"
)

// The results an operation may have. A callback answered 409 is refused:
// the page does not say whether as a duplicate or a conflict, and the model
// accepts either where the state allows it.
const (
	resRegistered = "registered"
	resExists     = "exists"
	resStored     = "stored"
	resRefused    = "refused"
	resCode       = "code"
	resNotFound   = "not_found"
	resTaken      = "taken"
	resConflict   = "conflict"
	resCancelled  = "cancelled"
	resUnknown    = "unknown"
	resUnexpected = "unexpected" // a 500, a 400: a bug whatever the model says
)

// Fault is one fault the nemesis injected.
type Fault struct {
	Kind   string `json:"kind"`
	Target string `json:"target"`
	Start  int64  `json:"start"`
	End    int64  `json:"end"`
	Error  string `json:"error,omitempty"`
}

// History is a whole run: the seed, the topology, every operation and
// every fault.
type History struct {
	Seed     uint64   `json:"seed"`
	Topology Topology `json:"topology"`
	Ops      []Op     `json:"ops"`
	Faults   []Fault  `json:"faults"`
	End      int64    `json:"end"`
}

// recorder collects a history from many goroutines.
type recorder struct {
	start time.Time
	mu    sync.Mutex
	h     History
}

func newRecorder(seed uint64, topology Topology) *recorder {
	return &recorder{start: time.Now(), h: History{Seed: seed, Topology: topology}}
}

func (r *recorder) now() int64 { return time.Since(r.start).Nanoseconds() }

func (r *recorder) op(o Op) {
	r.mu.Lock()
	r.h.Ops = append(r.h.Ops, o)
	r.mu.Unlock()
}

func (r *recorder) fault(f Fault) {
	r.mu.Lock()
	r.h.Faults = append(r.h.Faults, f)
	r.mu.Unlock()
}

// history is the run so far, unknown outcomes returning at its end.
func (r *recorder) history() History {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.h
	h.End = r.now()
	h.Ops = append([]Op(nil), r.h.Ops...)
	h.Faults = append([]Fault(nil), r.h.Faults...)
	for i := range h.Ops {
		if h.Ops[i].Result == resUnknown {
			h.Ops[i].Return = h.End + 1
		}
	}
	return h
}

// WriteFile saves h, for the checker to replay (ReadHistory).
func (h History) WriteFile(path string) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// ReadHistory reads a history WriteFile saved.
func ReadHistory(path string) (History, error) {
	var h History
	b, err := os.ReadFile(path) // #nosec G304 -- the file the person names
	if err != nil {
		return h, err
	}
	return h, json.Unmarshal(b, &h)
}
