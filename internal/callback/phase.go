package callback

// A sign-in's life is one state machine, declared here once: its phases,
// the events that move it, and for each phase and event the next phase or
// the error the store answers (Transitions). Both stores apply it (the
// Redis store in Go, then writes the step with one compare-and-set
// script), and the shared store suite (storetest) runs every row against
// every store.

// Phase is where a sign-in stands; GET /api/status reports it.
type Phase string

// The phases, in the order a sign-in goes through them.
const (
	PhaseUnknown    Phase = "unknown"    // never registered nor received, or its record lapsed
	PhaseRegistered Phase = "registered" // registered, no callback yet
	PhaseStarted    Phase = "started"    // registered with a sign-in link, which was opened
	PhaseReceived   Phase = "received"   // the callback is stored, not taken
	PhaseTaken      Phase = "taken"      // the callback was handed out
	PhaseConflict   Phase = "conflict"   // two different callbacks arrived: neither is handed out
	PhaseCancelled  Phase = "cancelled"  // the MCP server cancelled the sign-in
	PhaseExpired    Phase = "expired"    // its sign-in link ended with no callback taken
)

// Phases are every phase, in order.
var Phases = []Phase{PhaseUnknown, PhaseRegistered, PhaseStarted, PhaseReceived, PhaseTaken, PhaseConflict, PhaseCancelled, PhaseExpired}

// Event is what happens to a sign-in.
type Event string

// The events.
const (
	EventRegister Event = "register" // Store.Register
	EventOpen     Event = "open"     // Store.Start: the person opens the sign-in link
	// EventCallback is Store.Put of a callback the state has not seen;
	// EventSameCallback, of the one it holds or handed out (same
	// Fingerprint): a refresh or a double submit.
	EventCallback     Event = "callback"
	EventSameCallback Event = "same-callback"
	EventTake         Event = "take"   // Store.Take
	EventCancel       Event = "cancel" // Store.Cancel
	// EventLapse is time: the phase's TTL ran out (Status.ExpiresAt).
	EventLapse Event = "lapse"
)

// Events are every event.
var Events = []Event{EventRegister, EventOpen, EventCallback, EventSameCallback, EventTake, EventCancel, EventLapse}

// Step is one cell of the table: the phase an event leads to ("": it
// stays where it is) and what the call answers (nil: it succeeded). A
// second, different callback does both: the state becomes conflicted and
// the call answers ErrConflict.
type Step struct {
	Next Phase
	Err  error
}

// Transitions is the state machine: for each phase and event, the next
// phase or the error. What the table does not say, the guards below do,
// in this order, before it:
//
//   - Take, Status and Cancel made for an app that does not see the state
//     (App.Sees) meet PhaseUnknown, and change nothing.
//   - A callback whose iss differs from the issuer the registration named
//     (registered, started, received): ErrIssuerMismatch, nothing changes.
//   - A callback in PhaseExpired: ErrNotRegistered when registration is
//     required, else ErrUnbound when it is not Bound, else the table.
//   - A callback without Bound, for a state registered with a sign-in link
//     (any phase but taken and cancelled): ErrUnbound.
//   - A callback in PhaseUnknown when registration is required:
//     ErrNotRegistered.
//   - A step that stores bytes (register, a first callback) past the
//     budget: ErrFull (a FullError).
//
// EventLapse of a phase a sign-in link's record is in leads to
// PhaseExpired for a store TTL more (LapseOf).
var Transitions = map[Phase]map[Event]Step{
	PhaseUnknown: {
		EventRegister: {Next: PhaseRegistered}, EventOpen: {Err: ErrNotFound},
		EventCallback: {Next: PhaseReceived}, EventSameCallback: {Next: PhaseReceived},
		EventTake: {Err: ErrNotFound}, EventCancel: {Err: ErrNotFound}, EventLapse: {Next: PhaseUnknown},
	},
	PhaseRegistered: {
		EventRegister: {Err: ErrExists}, EventOpen: {Next: PhaseStarted},
		EventCallback: {Next: PhaseReceived}, EventSameCallback: {Next: PhaseReceived},
		EventTake: {Err: ErrNotFound}, EventCancel: {Next: PhaseCancelled}, EventLapse: {Next: PhaseUnknown},
	},
	PhaseStarted: {
		EventRegister: {Err: ErrExists}, EventOpen: {Next: PhaseStarted},
		EventCallback: {Next: PhaseReceived}, EventSameCallback: {Next: PhaseReceived},
		EventTake: {Err: ErrNotFound}, EventCancel: {Next: PhaseCancelled}, EventLapse: {Next: PhaseExpired},
	},
	PhaseReceived: {
		EventRegister: {Err: ErrExists}, EventOpen: {Err: ErrNotFound},
		EventCallback: {Next: PhaseConflict, Err: ErrConflict}, EventSameCallback: {Err: ErrExists},
		EventTake: {Next: PhaseTaken}, EventCancel: {Next: PhaseCancelled}, EventLapse: {Next: PhaseUnknown},
	},
	PhaseTaken: {
		EventRegister: {Err: ErrExists}, EventOpen: {Err: ErrNotFound},
		EventCallback: {Err: ErrConflictAfterTake}, EventSameCallback: {Err: ErrExists},
		EventTake: {Err: ErrAlreadyTaken}, EventCancel: {Err: ErrAlreadyTaken}, EventLapse: {Next: PhaseUnknown},
	},
	PhaseConflict: {
		EventRegister: {Err: ErrExists}, EventOpen: {Err: ErrNotFound},
		EventCallback: {Err: ErrConflict}, EventSameCallback: {Err: ErrConflict},
		EventTake: {Err: ErrConflict}, EventCancel: {Err: ErrConflict}, EventLapse: {Next: PhaseUnknown},
	},
	PhaseCancelled: {
		EventRegister: {Err: ErrExists}, EventOpen: {Err: ErrNotFound},
		EventCallback: {Err: ErrCancelled}, EventSameCallback: {Err: ErrCancelled},
		EventTake: {Err: ErrCancelled}, EventCancel: {Next: PhaseCancelled}, EventLapse: {Next: PhaseUnknown},
	},
	PhaseExpired: {
		EventRegister: {Err: ErrExists}, EventOpen: {Err: ErrNotFound},
		EventCallback: {Err: ErrLinkExpired}, EventSameCallback: {Err: ErrLinkExpired},
		EventTake: {Err: ErrLinkExpired}, EventCancel: {Err: ErrNotFound}, EventLapse: {Next: PhaseUnknown},
	},
}

// Next is the table's step for phase and event.
func Next(phase Phase, e Event) Step { return Transitions[phase][e] }

// LapseOf is where a phase goes when its time runs out: a sign-in link's
// registration, or its callback untaken, leaves PhaseExpired behind for a
// store TTL (LinkMarkerTTL), so that a forwarded authorization URL never
// succeeds once the link is gone; every other phase ends the record.
func LapseOf(phase Phase, hasLink bool) Phase {
	if hasLink && (phase == PhaseRegistered || phase == PhaseStarted || phase == PhaseReceived) {
		return PhaseExpired
	}
	return Next(phase, EventLapse).Next
}

// Holds reports whether a phase holds a live registration or callback,
// whose bytes the budget counts.
func (p Phase) Holds() bool {
	return p == PhaseRegistered || p == PhaseStarted || p == PhaseReceived
}

// CallbackFacts are what the guards of a callback look at, beside the
// state's phase.
type CallbackFacts struct {
	HasLink             bool // the state was registered with a sign-in link
	Bound               bool // the callback came from the browser that opened it
	IssuerMismatch      bool // the registration named an issuer, and the callback's iss is another
	RequireRegistration bool // the store refuses callbacks of unregistered states
}

// Guard is what the guards answer a callback in phase, before the table
// (Transitions says which, and in this order); nil: the table decides.
func Guard(phase Phase, f CallbackFacts) error {
	switch {
	case f.IssuerMismatch && (phase == PhaseRegistered || phase == PhaseStarted || phase == PhaseReceived):
		return ErrIssuerMismatch
	case phase == PhaseExpired && f.RequireRegistration:
		return ErrNotRegistered
	case phase != PhaseUnknown && (f.HasLink || phase == PhaseExpired) && !f.Bound && phase != PhaseTaken && phase != PhaseCancelled:
		return ErrUnbound
	case phase == PhaseUnknown && f.RequireRegistration:
		return ErrNotRegistered
	}
	return nil
}
