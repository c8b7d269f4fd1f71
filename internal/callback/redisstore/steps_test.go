package redisstore

import (
	"errors"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// Every shape of step.lua's reply, and each way it can be short or of
// another type: an error, never a panic.
func TestStepRepliesAreCheckedBeforeTheyAreRead(t *testing.T) {
	s := &Store{}
	st := step{checks: []check{{part: callback.PartUnregistered}, {part: callback.PartBudget}}, renames: [][2]string{{"a", "b"}}}
	for _, tt := range []struct {
		name string
		vals []any
		want func(outcome, error) bool
	}{
		{"done", []any{replyDone, int64(1)}, func(o outcome, err error) bool { return err == nil && o.renamed[0] }},
		{"done, its rename's key gone", []any{replyDone, int64(0)}, func(o outcome, err error) bool { return err == nil && !o.renamed[0] }},
		{"done, a rename short", []any{replyDone}, isErr},
		{"done, a rename not a number", []any{replyDone, "1"}, isErr},
		{"changed", []any{replyChanged, "received 1 - - - - - - - -"}, func(o outcome, err error) bool { return err == nil && o.changed && o.current != "" }},
		{"changed to nothing", []any{replyChanged, nil}, func(o outcome, err error) bool { return err == nil && o.changed && o.current == "" }},
		{"changed, short", []any{replyChanged}, isErr},
		{"full", []any{replyFull, int64(2)}, func(_ outcome, err error) bool {
			var full *callback.FullError
			return errors.As(err, &full) && full.Part == callback.PartBudget
		}},
		{"full, no such check", []any{replyFull, int64(3)}, isErr},
		{"full, not a number", []any{replyFull, "2"}, isErr},
		{"empty", nil, isErr},
		{"unknown", []any{"what"}, isErr},
	} {
		o, err := s.outcomeOf(tt.vals, st, nil)
		if !tt.want(o, err) {
			t.Errorf("%s: %+v, %v", tt.name, o, err)
		}
	}
}

func isErr(_ outcome, err error) bool {
	var full *callback.FullError
	return err != nil && !errors.As(err, &full)
}

// A record reads back as it was written, and a short or strange one is an
// error.
func TestARecordReadsBackAsWritten(t *testing.T) {
	r := record{phase: callback.PhaseReceived, until: time.UnixMilli(1_733_580_000_123), fp: "fp", callback: "cbnonce", registration: "regnonce",
		held: held{class: classRegistered, bytes: 1234, second: 1_733_580_000}, owner: "mail", appCap: 99, link: "lh", issuer: "ih"}
	got, err := parseRecord(r.String())
	if err != nil || got != r {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, r)
	}
	for _, bad := range []string{"", "received", "nonsense 1 - - - - - - - -", "received x - - - - - - - -", "received 1 - - - u:1 - - - -"} {
		if _, err := parseRecord(bad); err == nil {
			t.Errorf("parseRecord(%q): no error", bad)
		}
	}
}
