package callback

import "fmt"

// Part is the part of a store's bound that a write did not fit: the byte
// budget as a whole, one of its shares, or what bounds the store besides.
type Part uint8

// The parts of a store's bound.
const (
	PartBudget           Part = iota + 1 // OAUTH_CALLBACK_MAX_MEMORY as a whole
	PartUnregistered                     // UnregisteredShare: callbacks of states nobody registered
	PartRegistrations                    // RegistrationShare: registrations waiting for their callback
	PartApp                              // an app's share (StoreConfig.AppBudget)
	PartAppRegistrations                 // an app's part of RegistrationShare
	PartEntries                          // the memory store's entries, when there is no byte budget
	PartRedisMemory                      // Redis refused the write: its maxmemory
)

var partNames = map[Part]string{
	PartBudget:           "the byte budget",
	PartUnregistered:     "the share of callbacks of unregistered states",
	PartRegistrations:    "the registrations' share",
	PartApp:              "the app's share",
	PartAppRegistrations: "the app's share of registrations",
	PartEntries:          "the entries",
	PartRedisMemory:      "Redis's maxmemory",
}

func (p Part) String() string {
	if name, ok := partNames[p]; ok {
		return name
	}
	return fmt.Sprintf("part %d", p)
}

// FullError is ErrFull saying what is full, so that the operator's warning
// can say what to change: errors.Is(err, ErrFull) holds for it.
type FullError struct {
	Part Part
	App  string // PartApp and PartAppRegistrations: whose
	// Held and Limit are bytes (entries for PartEntries); 0 when the store
	// does not know them.
	Held, Limit int64
	// EntryFloor, when positive, is the least a write counts (the memory
	// store's OAUTH_CALLBACK_MAX_MEMORY / OAUTH_CALLBACK_MAX_ENTRIES), and
	// the refused write was that small: many small entries filled the part,
	// and more bytes without more entries would not help.
	EntryFloor int64
}

func (e *FullError) Error() string {
	what := e.Part.String()
	if e.App != "" {
		what += " of app " + e.App
	}
	msg := fmt.Sprintf("%v: %s", ErrFull, what)
	if e.Limit > 0 {
		msg += fmt.Sprintf(" (%d of %d held)", e.Held, e.Limit)
	}
	if e.EntryFloor > 0 {
		msg += fmt.Sprintf(" (each entry counts %d bytes at least)", e.EntryFloor)
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrFull) true.
func (e *FullError) Unwrap() error { return ErrFull }
