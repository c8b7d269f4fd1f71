package legacy

import (
	"strings"
	"testing"
)

// Every script reply shape, and each way it can be short or of another
// type: an error, never a panic (an index out of range, before).
func TestRepliesAreCheckedBeforeTheyAreRead(t *testing.T) {
	fp := strings.Repeat("f", fingerprintLen) + "sealed"
	const names = 2
	type c struct {
		name  string
		parse func() error
		ok    bool
	}
	put := func(vals ...any) func() error {
		return func() error { _, err := parsePut(vals, names); return err }
	}
	take := func(vals ...any) func() error {
		return func() error { _, err := parseTake(vals, names); return err }
	}
	cancel := func(vals ...any) func() error {
		return func() error { _, err := parseCancel(vals); return err }
	}
	start := func(vals ...any) func() error {
		return func() error { _, err := parseStart(vals, names); return err }
	}
	status := func(vals ...any) func() error {
		return func() error { _, err := parseStatus(vals); return err }
	}
	for _, tt := range []c{
		{"put: empty", put(), false},
		{"put: code not a number", put("1"), false},
		{"put: unknown code", put(int64(99)), false},
		{"put: stored, short", put(int64(putStored)), false},
		{"put: stored", put(int64(putStored), int64(1)), true},
		{"put: stored with a link", put(int64(putStored), int64(1), "Lr…", int64(2)), true},
		{"put: stored with a link, short", put(int64(putStored), int64(1), "Lr…"), false},
		{"put: stored with a link under no name", put(int64(putStored), int64(1), "Lr…", int64(3)), false},
		{"put: conflicted already", put(int64(putConflict)), true},
		{"put: conflicted now", put(int64(putConflict), "name"), true},
		{"put: conflict, long", put(int64(putConflict), "name", "more"), false},
		{"put: duplicate", put(int64(putDuplicate)), true},
		{"put: duplicate, long", put(int64(putDuplicate), int64(1)), false},
		{"take: empty", take(), false},
		{"take: taken, short", take(int64(takeTaken)), false},
		{"take: taken", take(int64(takeTaken), fp, int64(1), nil, int64(0)), true},
		{"take: taken with its registration", take(int64(takeTaken), fp, int64(1), "reg", int64(2)), true},
		{"take: taken, no fingerprint", take(int64(takeTaken), "short", int64(1), nil, int64(0)), false},
		{"take: taken under no name", take(int64(takeTaken), fp, int64(0), nil, int64(0)), false},
		{"take: taken, value not a string", take(int64(takeTaken), int64(7), int64(1), nil, int64(0)), false},
		{"take: registration under no name", take(int64(takeTaken), fp, int64(1), "reg", int64(9)), false},
		{"take: nothing", take(int64(takeNothing)), true},
		{"take: unknown code", take(int64(42)), false},
		{"cancel: empty", cancel(), false},
		{"cancel: cancelled, short", cancel(int64(cancelCancelled)), false},
		{"cancel: cancelled", cancel(int64(cancelCancelled), nil), true},
		{"cancel: cancelled, released", cancel(int64(cancelCancelled), "name"), true},
		{"cancel: taken", cancel(int64(cancelTaken)), true},
		{"start: empty", start(), false},
		{"start: found, short", start(int64(startFound), int64(1)), false},
		{"start: found", start(int64(startFound), int64(1), "Lr…", int64(1)), true},
		{"start: none", start(int64(startNone)), true},
		{"status: empty", status(), false},
		{"status: short", status("received"), false},
		{"status: no progress", status("", int64(5)), false},
		{"status: progress not a string", status(int64(1), int64(5)), false},
		{"status", status("received", int64(5)), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panicked: %v", r)
				}
			}()
			if err := tt.parse(); (err == nil) != tt.ok {
				t.Errorf("error %v, want ok %v", err, tt.ok)
			}
		})
	}
}
