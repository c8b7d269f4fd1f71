// Package storetest is the one test suite every callback.Store must pass.
// Each implementation's tests call Run with a constructor and a way to move
// its clock forward.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// anyApp is the caller of the suite's cases that are not about apps: a
// service with none configured.
var anyApp = callback.AnyApp()

// TTL is the time to live Run asks NewStore for. Whole seconds, because
// Redis expires keys in seconds (SET … EX).
const TTL = 2 * time.Second

// Harness is what Run needs from an implementation.
type Harness struct {
	// NewStore returns an empty store configured by cfg: its TTL, its byte
	// budget (0: none) and whether it requires registration. Run closes it.
	NewStore func(t *testing.T, cfg callback.StoreConfig) callback.Store
	// Advance moves the store's notion of time forward by d: a fake clock,
	// miniredis's FastForward, or a real sleep.
	Advance func(t *testing.T, d time.Duration)
	// Parallel runs the subtests in parallel: NewStore and Advance must
	// then be safe for concurrent use, and each store independent.
	Parallel bool
	// Bubble runs each subtest in a testing/synctest bubble: time is fake,
	// so Advance can simply time.Sleep, and the store's own goroutines
	// must end when it is closed.
	Bubble bool
	// BudgetParts is how many parts the store cuts its byte budget into,
	// each MaxBytes/BudgetParts with the same shares (the Redis store's
	// partitions); 0 or 1: one. SameBudgetPart says whether two states
	// count against the same part. The budget cases then run all their
	// states in one part, with MaxBytes scaled up to give it the budget
	// they reason about: each part keeps its promises as exactly as a
	// store with one part does.
	BudgetParts    int
	SameBudgetPart func(a, b string) bool
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	t.Helper()
	// Subtests run in parallel when the harness allows it: against a real
	// server their waits for a TTL to pass then overlap.
	run := func(name string, f func(t *testing.T)) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			if h.Parallel {
				t.Parallel()
			}
			if h.Bubble {
				synctest.Test(t, f)
				return
			}
			f(t)
		})
	}
	newStoreRequiring := func(t *testing.T, require bool) callback.Store {
		t.Helper()
		s := h.NewStore(t, callback.StoreConfig{TTL: TTL, RequireRegistration: require})
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	newStore := func(t *testing.T) callback.Store {
		t.Helper()
		return newStoreRequiring(t, false)
	}
	ctx := context.Background()
	received := time.Date(2026, 11, 26, 12, 0, 0, 123000000, time.UTC)
	// budgeted is a store whose budget part holding the states of inPart
	// has cfg.MaxBytes bytes; inPart names a state of that part.
	budgeted := func(t *testing.T, cfg callback.StoreConfig) callback.Store {
		t.Helper()
		cfg.MaxBytes *= int64(max(h.BudgetParts, 1))
		s := h.NewStore(t, cfg)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	inPart := onePart(h)

	run("put then take returns every field", func(t *testing.T) {
		s := newStore(t)
		want := callback.Callback{
			State:            "st-" + t.Name(),
			Code:             "code-1",
			Iss:              "https://login.microsoftonline.com/tid/v2.0",
			Params:           map[string]string{"session_state": "abc", "client_info": "eyJ"},
			ReceivedAt:       received,
			Error:            "",
			ErrorDescription: "",
		}
		mustPut(t, s, want)
		got, err := s.Take(ctx, anyApp, want.State)
		if err != nil {
			t.Fatalf("Take: %v", err)
		}
		assertEqual(t, got, want)
	})

	run("error callback keeps error fields", func(t *testing.T) {
		s := newStore(t)
		want := callback.Callback{
			State: "st-err", Error: "access_denied",
			ErrorDescription: "AADSTS65004: User declined to consent.\r\nTrace ID: 1",
			ReceivedAt:       received,
		}
		mustPut(t, s, want)
		got, err := s.Take(ctx, anyApp, want.State)
		if err != nil {
			t.Fatalf("Take: %v", err)
		}
		assertEqual(t, got, want)
	})

	run("second take is already taken", func(t *testing.T) {
		s := newStore(t)
		mustPut(t, s, callback.Callback{State: "s", Code: "c", ReceivedAt: received})
		if _, err := s.Take(ctx, anyApp, "s"); err != nil {
			t.Fatalf("first Take: %v", err)
		}
		if _, err := s.Take(ctx, anyApp, "s"); !errors.Is(err, callback.ErrAlreadyTaken) {
			t.Fatalf("second Take: got %v, want ErrAlreadyTaken", err)
		}
	})

	run("take of unknown state is not found", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Take(ctx, anyApp, "never"); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
		// A miss must not leave anything behind that turns the next answer
		// into "already taken" or blocks a later callback.
		if _, err := s.Take(ctx, anyApp, "never"); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("second miss: got %v, want ErrNotFound", err)
		}
		mustPut(t, s, callback.Callback{State: "never", Code: "late", ReceivedAt: received})
	})

	run("the same callback again is a duplicate, first kept", func(t *testing.T) {
		s := newStore(t)
		mustPut(t, s, callback.Callback{State: "s", Code: "first", ReceivedAt: received})
		// A refresh or a double submit: same code, other parameters.
		_, err := s.Put(ctx, callback.Callback{State: "s", Code: "first", Params: map[string]string{"x": "y"}, ReceivedAt: received})
		if !errors.Is(err, callback.ErrExists) {
			t.Fatalf("second Put: got %v, want ErrExists", err)
		}
		got, err := s.Take(ctx, anyApp, "s")
		if err != nil {
			t.Fatalf("Take: %v", err)
		}
		if got.Code != "first" || len(got.Params) != 0 {
			t.Fatalf("got %+v, want the first callback", got)
		}
	})

	run("a different callback while pending: conflicted, nobody gets either", func(t *testing.T) {
		s := newStore(t)
		mustPut(t, s, callback.Callback{State: "s", Code: "person", ReceivedAt: received})
		assertPending(t, s, 1)
		_, err := s.Put(ctx, callback.Callback{State: "s", Code: "attacker", ReceivedAt: received})
		if !errors.Is(err, callback.ErrConflict) {
			t.Fatalf("different Put: got %v, want ErrConflict", err)
		}
		assertPending(t, s, 0)
		for _, code := range []string{"person", "attacker", "third"} {
			if _, err := s.Put(ctx, callback.Callback{State: "s", Code: code, ReceivedAt: received}); !errors.Is(err, callback.ErrConflict) {
				t.Fatalf("Put %s after the conflict: got %v, want ErrConflict", code, err)
			}
		}
		for range 2 {
			if got, err := s.Take(ctx, anyApp, "s"); !errors.Is(err, callback.ErrConflict) {
				t.Fatalf("Take of a conflicted state: got %+v, %v, want ErrConflict", got, err)
			}
		}
		// An error instead of a code is different too.
		mustPut(t, s, callback.Callback{State: "e", Code: "c", ReceivedAt: received})
		if _, err := s.Put(ctx, callback.Callback{State: "e", Error: "access_denied", ReceivedAt: received}); !errors.Is(err, callback.ErrConflict) {
			t.Fatalf("error after code: got %v, want ErrConflict", err)
		}
	})

	run("a conflict marker expires like a tombstone", func(t *testing.T) {
		s := newStore(t)
		mustPut(t, s, callback.Callback{State: "s", Code: "a", ReceivedAt: received})
		_, _ = s.Put(ctx, callback.Callback{State: "s", Code: "b", ReceivedAt: received})
		h.Advance(t, TTL+500*time.Millisecond)
		if _, err := s.Take(ctx, anyApp, "s"); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("Take after the marker's TTL: got %v, want ErrNotFound", err)
		}
	})

	run("put after take: same is a duplicate, different is reported", func(t *testing.T) {
		s := newStore(t)
		mustPut(t, s, callback.Callback{State: "s", Code: "first", ReceivedAt: received})
		if _, err := s.Take(ctx, anyApp, "s"); err != nil {
			t.Fatalf("Take: %v", err)
		}
		if _, err := s.Put(ctx, callback.Callback{State: "s", Code: "first", ReceivedAt: received}); !errors.Is(err, callback.ErrExists) {
			t.Fatalf("same Put after Take: got %v, want ErrExists", err)
		}
		_, err := s.Put(ctx, callback.Callback{State: "s", Code: "replay", ReceivedAt: received})
		if !errors.Is(err, callback.ErrConflictAfterTake) {
			t.Fatalf("different Put after Take: got %v, want ErrConflictAfterTake", err)
		}
		if _, err := s.Take(ctx, anyApp, "s"); !errors.Is(err, callback.ErrAlreadyTaken) {
			t.Fatalf("Take after refused Put: got %v, want ErrAlreadyTaken", err)
		}
	})

	run("put reports whether the state was registered", func(t *testing.T) {
		s := newStore(t)
		if receipt, err := s.Put(ctx, callback.Callback{State: "u", Code: "c", ReceivedAt: received}); err != nil || receipt.Registered {
			t.Fatalf("unregistered Put: %+v, %v", receipt, err)
		}
		if err := s.Register(ctx, anyApp, "r", callback.Registration{}); err != nil {
			t.Fatal(err)
		}
		if receipt, err := s.Put(ctx, callback.Callback{State: "r", Code: "c", ReceivedAt: received}); err != nil || !receipt.Registered {
			t.Fatalf("registered Put: %+v, %v", receipt, err)
		}
	})

	run("byte budget: unregistered states leave the registered share free", func(t *testing.T) {
		const budget = 64 << 10
		s := budgeted(t, callback.StoreConfig{TTL: TTL, MaxBytes: budget})
		big := func(state string) callback.Callback {
			return callback.Callback{State: inPart(state), Code: strings.Repeat("c", 4<<10), ReceivedAt: received}
		}
		stored := 0
		var err error
		for i := range 100 {
			if _, err = s.Put(ctx, big(fmt.Sprint("junk", i))); err != nil {
				break
			}
			stored++
		}
		if !errors.Is(err, callback.ErrFull) {
			t.Fatalf("flood: got %v after %d callbacks, want ErrFull", err, stored)
		}
		if max := shareOf(budget, callback.UnregisteredShare) / (4 << 10); stored == 0 || stored > max {
			t.Fatalf("flood stored %d callbacks of 4 KiB, want 1..%d in a budget of %d", stored, max, budget)
		}
		if err := s.Register(ctx, anyApp, inPart("real"), callback.Registration{}); err != nil {
			t.Fatalf("Register during the flood: %v", err)
		}
		if _, err := s.Put(ctx, big("real")); err != nil {
			t.Fatalf("registered Put during the flood: %v", err)
		}
		if _, err := s.Take(ctx, anyApp, inPart("junk0")); err != nil {
			t.Fatalf("Take: %v", err)
		}
		// Smaller than the one taken: the memory store keeps counting the
		// taken one's tombstone, and whether a callback of the same size
		// fits again would depend on the flood's last few bytes.
		smaller := callback.Callback{State: inPart("after-take"), Code: strings.Repeat("c", 3<<10), ReceivedAt: received}
		if _, err := s.Put(ctx, smaller); err != nil {
			t.Fatalf("Put after a take freed room: %v", err)
		}
		h.Advance(t, TTL+500*time.Millisecond)
		for i := range stored {
			if _, err := s.Put(ctx, big(fmt.Sprint("later", i))); err != nil {
				t.Fatalf("Put %d after the flood expired: %v", i, err)
			}
		}
	})

	// Hostile traffic, round 3, item 3: on Redis registrations were outside
	// the byte accounting, so ~1 900 of them with 12 KiB each, under the API
	// rate limit, filled Redis and every callback got 503.
	run("byte budget: registrations have a share of their own", func(t *testing.T) {
		const budget = 64 << 10
		s := budgeted(t, callback.StoreConfig{TTL: TTL, MaxBytes: budget})
		if err := s.Register(ctx, anyApp, inPart("announced"), callback.Registration{}); err != nil {
			t.Fatal(err)
		}
		metadata := json.RawMessage(`"` + strings.Repeat("m", 2<<10) + `"`)
		registered := 0
		var err error
		for i := range 100 {
			if err = s.Register(ctx, anyApp, inPart(fmt.Sprint("flood", i)), callback.Registration{Metadata: metadata}); err != nil {
				break
			}
			registered++
		}
		if !errors.Is(err, callback.ErrFull) {
			t.Fatalf("registration flood: got %v after %d registrations of 2 KiB, want ErrFull", err, registered)
		}
		if max := shareOf(budget, callback.RegistrationShare) / (2 << 10); registered == 0 || registered > max {
			t.Fatalf("registration flood: %d registrations of 2 KiB, want 1..%d in a budget of %d", registered, max, budget)
		}
		// And made-up states on /callback at the same time: their own share.
		junk := 0
		for i := range 100 {
			if _, err = s.Put(ctx, callback.Callback{State: inPart(fmt.Sprint("junk", i)), Code: strings.Repeat("c", 2<<10), ReceivedAt: received}); err != nil {
				break
			}
			junk++
		}
		if !errors.Is(err, callback.ErrFull) || junk < shareOf(budget, callback.UnregisteredShare)/(2<<10)/2 {
			t.Fatalf("callback flood after the registrations: %d stored, then %v", junk, err)
		}
		// Both floods at once leave the announced sign-in its share.
		if _, err := s.Put(ctx, callback.Callback{State: inPart("announced"), Code: strings.Repeat("c", 4<<10), ReceivedAt: received}); err != nil {
			t.Fatalf("the registered state's callback during both floods: %v", err)
		}
		h.Advance(t, TTL+500*time.Millisecond) // expired registrations give their bytes back
		if err := s.Register(ctx, anyApp, inPart("later"), callback.Registration{Metadata: metadata}); err != nil {
			t.Fatalf("Register after the flood expired: %v", err)
		}
	})

	run("expired callback is not found and not counted", func(t *testing.T) {
		s := newStore(t)
		mustPut(t, s, callback.Callback{State: "old", Code: "c", ReceivedAt: received})
		assertPending(t, s, 1)
		h.Advance(t, TTL+500*time.Millisecond)
		if _, err := s.Take(ctx, anyApp, "old"); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("Take after TTL: got %v, want ErrNotFound", err)
		}
		assertPending(t, s, 0)
	})

	run("callback is alive just before its TTL", func(t *testing.T) {
		s := newStore(t)
		mustPut(t, s, callback.Callback{State: "s", Code: "c", ReceivedAt: received})
		h.Advance(t, TTL-time.Second)
		if _, err := s.Take(ctx, anyApp, "s"); err != nil {
			t.Fatalf("Take before TTL: %v", err)
		}
	})

	run("tombstone expires", func(t *testing.T) {
		s := newStore(t)
		mustPut(t, s, callback.Callback{State: "s", Code: "c", ReceivedAt: received})
		if _, err := s.Take(ctx, anyApp, "s"); err != nil {
			t.Fatalf("Take: %v", err)
		}
		h.Advance(t, TTL+500*time.Millisecond)
		if _, err := s.Take(ctx, anyApp, "s"); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("Take after tombstone TTL: got %v, want ErrNotFound", err)
		}
	})

	run("pending counts stored, not taken, not expired", func(t *testing.T) {
		s := newStore(t)
		assertPending(t, s, 0)
		for i := range 3 {
			mustPut(t, s, callback.Callback{State: fmt.Sprint("p", i), Code: "c", ReceivedAt: received})
		}
		assertPending(t, s, 3)
		if _, err := s.Take(ctx, anyApp, "p1"); err != nil {
			t.Fatalf("Take: %v", err)
		}
		assertPending(t, s, 2)
		_, _ = s.Put(ctx, callback.Callback{State: "p0", Code: "c", ReceivedAt: received}) // a duplicate
		assertPending(t, s, 2)
		h.Advance(t, TTL+500*time.Millisecond)
		assertPending(t, s, 0)
	})

	run("concurrent takes deliver exactly once", func(t *testing.T) {
		s := newStore(t)
		const states, takers = 20, 8
		for i := range states {
			mustPut(t, s, callback.Callback{State: fmt.Sprint("c", i), Code: fmt.Sprint("code", i), ReceivedAt: received})
		}
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			successes = map[string]int{}
			others    []error
		)
		for i := range states {
			for range takers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cb, err := s.Take(ctx, anyApp, fmt.Sprint("c", i))
					mu.Lock()
					defer mu.Unlock()
					if err == nil {
						successes[cb.Code]++
					} else if !errors.Is(err, callback.ErrAlreadyTaken) {
						others = append(others, err)
					}
				}()
			}
		}
		wg.Wait()
		if len(others) > 0 {
			t.Fatalf("unexpected errors: %v", others)
		}
		if len(successes) != states {
			t.Fatalf("codes delivered: got %d, want %d", len(successes), states)
		}
		for code, n := range successes {
			if n != 1 {
				t.Errorf("code %s delivered %d times", code, n)
			}
		}
	})

	run("concurrent puts: one writer stores, the rest are refused", func(t *testing.T) {
		for _, tt := range []struct {
			name         string
			code         func(i int) string
			wantConflict bool
		}{
			{"same code", func(int) string { return "same" }, false},
			{"different codes", func(i int) string { return fmt.Sprint("w", i) }, true},
		} {
			func() { // not t.Run: subtests cannot be started in a bubble
				s := newStore(t)
				const writers = 16
				var wg sync.WaitGroup
				results := make([]error, writers)
				for i := range writers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						_, results[i] = s.Put(ctx, callback.Callback{State: "race", Code: tt.code(i), ReceivedAt: received})
					}()
				}
				wg.Wait()
				winner := -1
				for i, err := range results {
					switch {
					case err == nil && winner >= 0:
						t.Fatalf("%s: writers %d and %d both stored", tt.name, winner, i)
					case err == nil:
						winner = i
					case !errors.Is(err, callback.ErrExists) && !errors.Is(err, callback.ErrConflict):
						t.Fatalf("%s: writer %d: %v", tt.name, i, err)
					}
				}
				if winner < 0 {
					t.Fatalf("%s: no writer stored", tt.name)
				}
				got, err := s.Take(ctx, anyApp, "race")
				if tt.wantConflict {
					if !errors.Is(err, callback.ErrConflict) {
						t.Fatalf("Take after racing different codes: got %+v, %v, want ErrConflict", got, err)
					}
					return
				}
				if err != nil || got.Code != "same" {
					t.Fatalf("Take: got %+v, %v", got, err)
				}
			}()
		}
	})

	run("states are compared exactly", func(t *testing.T) {
		s := newStore(t)
		mustPut(t, s, callback.Callback{State: "Abc", Code: "upper", ReceivedAt: received})
		if _, err := s.Take(ctx, anyApp, "abc"); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("Take other case: got %v, want ErrNotFound", err)
		}
		if _, err := s.Take(ctx, anyApp, "Abc "); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("Take with trailing space: got %v, want ErrNotFound", err)
		}
	})

	// Every cell of the state machine (callback.Transitions), on every
	// store: the state is brought to the phase, the event applied, and the
	// call's error and the phase after compared with the table. Every
	// state but the unknown one is registered with a sign-in link and its
	// callbacks come from the browser that opened it, so that the table's
	// rows, not the link's guards, decide.
	for _, from := range callback.Phases {
		for _, event := range callback.Events {
			run(fmt.Sprintf("state machine: %s on %s", event, from), func(t *testing.T) {
				s := newStore(t)
				const state = "sm"
				link := callback.Link{ID: "state-machine-link-0123456789abcdef", AuthorizationURL: "https://idp.example/authorize"}
				first := callback.Callback{State: state, Code: "first", Bound: true, ReceivedAt: received}
				second := callback.Callback{State: state, Code: "second", Bound: true, ReceivedAt: received}
				bringTo(t, s, h, from, state, link, first, second)

				var err error
				switch event {
				case callback.EventRegister:
					err = s.Register(ctx, anyApp, state, callback.Registration{})
				case callback.EventOpen:
					var opened bool
					_, _, opened, err = s.Start(ctx, link.ID)
					if err == nil && opened != (from == callback.PhaseRegistered) {
						t.Fatalf("Start on %s says first %v", from, opened)
					}
				case callback.EventCallback:
					_, err = s.Put(ctx, second)
				case callback.EventSameCallback:
					_, err = s.Put(ctx, first)
				case callback.EventTake:
					var got callback.Callback
					got, err = s.Take(ctx, anyApp, state)
					if err == nil && got.Code != first.Code {
						t.Fatalf("Take on %s: code %q, want %q", from, got.Code, first.Code)
					}
				case callback.EventCancel:
					err = s.Cancel(ctx, anyApp, state)
				case callback.EventLapse:
					h.Advance(t, TTL+500*time.Millisecond)
				}

				step := callback.Next(from, event)
				if !errors.Is(err, step.Err) || (err == nil) != (step.Err == nil) {
					t.Fatalf("%s on %s: %v, want %v", event, from, err, step.Err)
				}
				want := step.Next
				switch {
				case event == callback.EventLapse:
					want = callback.LapseOf(from, from != callback.PhaseUnknown)
				case want == "":
					want = from
				}
				assertPhase(t, s, state, want)
			})
		}
	}

	run("put wakes subscribers", func(t *testing.T) {
		s := newStore(t)
		n, ok := s.(callback.Notifier)
		if !ok {
			t.Skip("store does not implement callback.Notifier")
		}
		// A subscription wakes its subscriber once when it is active: a
		// callback stored before then may have been missed, so look again.
		// Only after that does a wake-up mean a callback may have arrived.
		armed := func(state string) (<-chan struct{}, func()) {
			t.Helper()
			wake, cancel := n.Subscribe(state)
			select {
			case <-wake:
			case <-time.After(5 * time.Second):
				t.Fatalf("the subscription to %s did not say it is active within 5s", state)
			}
			return wake, cancel
		}
		wake, cancel := armed("w")
		defer cancel()
		other, cancelOther := armed("other")
		defer cancelOther()
		mustPut(t, s, callback.Callback{State: "w", Code: "c", ReceivedAt: received})
		select {
		case <-wake:
		case <-time.After(5 * time.Second):
			t.Fatal("subscriber not woken within 5s of Put")
		}
		select {
		case <-other:
			t.Fatal("subscriber of another state woken")
		case <-time.After(50 * time.Millisecond):
		}
	})

	run("a callback from another issuer than the registration named is refused, and the real one lands", func(t *testing.T) {
		s := newStore(t)
		const issuer = "https://login.microsoftonline.com/tenant-a/v2.0"
		for _, reg := range []callback.Registration{{Issuer: issuer}, {Issuer: issuer, Link: &callback.Link{ID: "iss-link-0123456789abcdef0123456789", AuthorizationURL: "https://login.example.com/a"}}} {
			state := "iss"
			bound := reg.Link != nil
			if bound {
				state = "iss-link"
			}
			if err := s.Register(ctx, anyApp, state, reg); err != nil {
				t.Fatalf("Register: %v", err)
			}
			mixedUp := callback.Callback{State: state, Code: "attacker", Iss: "https://evil.example", Bound: bound, ReceivedAt: received}
			if _, err := s.Put(ctx, mixedUp); !errors.Is(err, callback.ErrIssuerMismatch) {
				t.Fatalf("Put from another issuer: %v, want ErrIssuerMismatch", err)
			}
			// Checked first, whatever else is wrong with it (here: another
			// browser than the link's), the same on every store.
			if _, err := s.Put(ctx, callback.Callback{State: state, Code: "attacker", Iss: "https://evil.example", ReceivedAt: received}); !errors.Is(err, callback.ErrIssuerMismatch) {
				t.Fatalf("Put from another issuer and browser: %v, want ErrIssuerMismatch", err)
			}
			assertPending(t, s, 0)
			if st, err := s.Status(ctx, anyApp, state); err != nil || st.Phase != callback.PhaseRegistered {
				t.Fatalf("Status after the refused callback: %+v, %v: the state must still wait", st, err)
			}
			mustPut(t, s, callback.Callback{State: state, Code: "real", Iss: issuer, Bound: bound, ReceivedAt: received})
			// After the real one, still no conflict: it is no second
			// callback of this sign-in.
			if _, err := s.Put(ctx, mixedUp); !errors.Is(err, callback.ErrIssuerMismatch) {
				t.Fatalf("Put from another issuer after the real one: %v, want ErrIssuerMismatch", err)
			}
			got, err := s.Take(ctx, anyApp, state)
			if err != nil || got.Code != "real" || got.Issuer != issuer {
				t.Fatalf("Take: %+v, %v; want the real code and the checked issuer", got, err)
			}
		}
		// A present iss is compared; an absent one is not (RFC 9207 leaves
		// that to the client, who knows whether its server sends iss).
		if err := s.Register(ctx, anyApp, "no-iss", callback.Registration{Issuer: issuer}); err != nil {
			t.Fatalf("Register: %v", err)
		}
		mustPut(t, s, callback.Callback{State: "no-iss", Code: "c", ReceivedAt: received})
		// An issuer only checks what it names: an unregistered state takes
		// any iss, and a registration without an issuer too.
		mustPut(t, s, callback.Callback{State: "unregistered", Code: "c", Iss: "https://any.example", ReceivedAt: received})
		if got, err := s.Take(ctx, anyApp, "unregistered"); err != nil || got.Issuer != "" {
			t.Fatalf("Take of an unregistered state: %+v, %v", got, err)
		}
	})

	run("registration metadata comes back with the callback", func(t *testing.T) {
		s := newStore(t)
		meta := json.RawMessage(`{"session":"abc","n":1}`)
		if err := s.Register(ctx, anyApp, "reg", callback.Registration{Metadata: meta}); err != nil {
			t.Fatalf("Register: %v", err)
		}
		assertPending(t, s, 0) // a registration is not a callback
		if _, err := s.Take(ctx, anyApp, "reg"); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("Take before the callback: got %v, want ErrNotFound", err)
		}
		mustPut(t, s, callback.Callback{State: "reg", Code: "c", ReceivedAt: received})
		got, err := s.Take(ctx, anyApp, "reg")
		if err != nil {
			t.Fatalf("Take: %v", err)
		}
		if string(got.Metadata) != string(meta) {
			t.Fatalf("metadata: got %s, want %s", got.Metadata, meta)
		}
	})

	run("register twice, or after a callback, is refused", func(t *testing.T) {
		s := newStore(t)
		if err := s.Register(ctx, anyApp, "r", callback.Registration{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Register(ctx, anyApp, "r", callback.Registration{}); !errors.Is(err, callback.ErrExists) {
			t.Fatalf("second Register: got %v, want ErrExists", err)
		}
		mustPut(t, s, callback.Callback{State: "p", Code: "c", ReceivedAt: received})
		if err := s.Register(ctx, anyApp, "p", callback.Registration{}); !errors.Is(err, callback.ErrExists) {
			t.Fatalf("Register after Put: got %v, want ErrExists", err)
		}
	})

	run("required registration", func(t *testing.T) {
		// A callback TTL well past the registrations' (1 s) and the wait
		// below, so that a slow put on a loaded machine cannot expire it.
		s := h.NewStore(t, callback.StoreConfig{TTL: 2 * TTL, RequireRegistration: true})
		t.Cleanup(func() { _ = s.Close() })
		_, err := s.Put(ctx, callback.Callback{State: "unknown", Code: "c", ReceivedAt: received})
		if !errors.Is(err, callback.ErrNotRegistered) {
			t.Fatalf("Put unregistered: got %v, want ErrNotRegistered", err)
		}
		assertPending(t, s, 0)
		if _, err := s.Take(ctx, anyApp, "unknown"); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("Take: got %v, want ErrNotFound", err)
		}
		if err := s.Register(ctx, anyApp, "known", callback.Registration{TTL: time.Second}); err != nil {
			t.Fatal(err)
		}
		mustPut(t, s, callback.Callback{State: "known", Code: "c", ReceivedAt: received})
		_, err = s.Put(ctx, callback.Callback{State: "known", Code: "c", ReceivedAt: received})
		if !errors.Is(err, callback.ErrExists) {
			t.Fatalf("second Put of a registered state: got %v, want ErrExists", err)
		}
		if err := s.Register(ctx, anyApp, "late", callback.Registration{TTL: time.Second}); err != nil {
			t.Fatal(err)
		}
		h.Advance(t, 1500*time.Millisecond)
		_, err = s.Put(ctx, callback.Callback{State: "late", Code: "c", ReceivedAt: received})
		if !errors.Is(err, callback.ErrNotRegistered) {
			t.Fatalf("Put after the registration expired: got %v, want ErrNotRegistered", err)
		}
		// The callback outlives a shorter registration, metadata included.
		if _, err := s.Take(ctx, anyApp, "known"); err != nil {
			t.Fatalf("Take of a callback whose registration TTL passed: %v", err)
		}
	})

	run("sign-in link: opened once, binds the callback, used up by it", func(t *testing.T) {
		s := newStore(t)
		link := callback.Link{ID: "link-0123456789abcdef0123", AuthorizationURL: "https://idp.example/authorize?state=L", ReturnURL: "https://app.example/back"}
		if err := s.Register(ctx, anyApp, "L", callback.Registration{Metadata: json.RawMessage(`{"m":1}`), Link: &link}); err != nil {
			t.Fatal(err)
		}
		assertPhase(t, s, "L", callback.PhaseRegistered)
		if _, _, _, err := s.Start(ctx, "link-unknown"); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("Start of an unknown link: %v, want ErrNotFound", err)
		}
		for i, wantFirst := range []bool{true, false} {
			state, got, first, err := s.Start(ctx, link.ID)
			if err != nil || state != "L" || got.AuthorizationURL != link.AuthorizationURL || got.ReturnURL != link.ReturnURL || first != wantFirst {
				t.Fatalf("Start #%d: %q %+v first=%v %v; want L, the link, first=%v", i+1, state, got, first, err, wantFirst)
			}
		}
		assertPhase(t, s, "L", callback.PhaseStarted)
		if _, err := s.Put(ctx, callback.Callback{State: "L", Code: "forwarded", ReceivedAt: received}); !errors.Is(err, callback.ErrUnbound) {
			t.Fatalf("unbound Put: %v, want ErrUnbound", err)
		}
		assertPending(t, s, 0)
		receipt, err := s.Put(ctx, callback.Callback{State: "L", Code: "c", ReceivedAt: received, Bound: true})
		if err != nil || !receipt.Registered || receipt.ReturnURL != link.ReturnURL {
			t.Fatalf("bound Put: %+v, %v; want registered with the return URL", receipt, err)
		}
		if _, _, _, err := s.Start(ctx, link.ID); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("Start after the callback: %v, want ErrNotFound (used)", err)
		}
		// An unbound callback cannot make the state conflicted either.
		if _, err := s.Put(ctx, callback.Callback{State: "L", Code: "other", ReceivedAt: received}); !errors.Is(err, callback.ErrUnbound) {
			t.Fatalf("unbound Put after the callback: %v, want ErrUnbound", err)
		}
		assertPhase(t, s, "L", callback.PhaseReceived)
		got, err := s.Take(ctx, anyApp, "L")
		if err != nil || got.Code != "c" || string(got.Metadata) != `{"m":1}` {
			t.Fatalf("Take: %+v, %v", got, err)
		}
		assertPhase(t, s, "L", callback.PhaseTaken)
	})

	run("sign-in link lives as long as its registration", func(t *testing.T) {
		s := newStore(t)
		link := callback.Link{ID: "link-short-0123456789abcdef", AuthorizationURL: "https://idp.example/a"}
		if err := s.Register(ctx, anyApp, "short", callback.Registration{TTL: time.Second, Link: &link}); err != nil {
			t.Fatal(err)
		}
		h.Advance(t, 1500*time.Millisecond)
		if _, _, _, err := s.Start(ctx, link.ID); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("Start after the registration expired: %v, want ErrNotFound", err)
		}
		assertPhase(t, s, "short", callback.PhaseExpired)
	})

	// The attack: the MCP server waits longer than the registration's ttl
	// (docs/clients.md's order: register, elicit, wait 300 s), and a forwarded
	// authorization URL is completed by another person after the link
	// expired. Their callback must still be refused.
	run("an expired sign-in link still refuses unbound callbacks", func(t *testing.T) {
		s := newStore(t)
		link := callback.Link{ID: "link-expired-0123456789abcdef", AuthorizationURL: "https://idp.example/a"}
		if err := s.Register(ctx, anyApp, "gone", callback.Registration{TTL: time.Second, Link: &link}); err != nil {
			t.Fatal(err)
		}
		h.Advance(t, 1500*time.Millisecond) // the registration expired; its marker lives for a TTL more
		assertPhase(t, s, "gone", callback.PhaseExpired)
		if _, err := s.Put(ctx, callback.Callback{State: "gone", Code: "forwarded", ReceivedAt: received}); !errors.Is(err, callback.ErrUnbound) {
			t.Fatalf("unbound Put after the link expired: %v, want ErrUnbound", err)
		}
		if _, err := s.Put(ctx, callback.Callback{State: "gone", Code: "late", ReceivedAt: received, Bound: true}); !errors.Is(err, callback.ErrLinkExpired) {
			t.Fatalf("bound Put after the link expired: %v, want ErrLinkExpired", err)
		}
		assertPending(t, s, 0)
		if _, err := s.Take(ctx, anyApp, "gone"); !errors.Is(err, callback.ErrLinkExpired) {
			t.Fatalf("Take after the link expired: %v, want ErrLinkExpired", err)
		}
		// Nor can the state be registered again without a link.
		if err := s.Register(ctx, anyApp, "gone", callback.Registration{}); !errors.Is(err, callback.ErrExists) {
			t.Fatalf("Register after the link expired: %v, want ErrExists", err)
		}
		if _, _, _, err := s.Start(ctx, link.ID); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("Start after the link expired: %v, want ErrNotFound", err)
		}
		h.Advance(t, TTL) // the marker is gone too: nothing about the state is kept
		assertPhase(t, s, "gone", callback.PhaseUnknown)
		if _, err := s.Take(ctx, anyApp, "gone"); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("Take once nothing is kept: %v, want ErrNotFound", err)
		}
	})

	run("an expired sign-in link is not registered, when registration is required", func(t *testing.T) {
		s := newStoreRequiring(t, true)
		link := callback.Link{ID: "link-strict-0123456789abcdef", AuthorizationURL: "https://idp.example/a"}
		if err := s.Register(ctx, anyApp, "gone", callback.Registration{TTL: time.Second, Link: &link}); err != nil {
			t.Fatal(err)
		}
		h.Advance(t, 1500*time.Millisecond)
		for _, bound := range []bool{false, true} {
			if _, err := s.Put(ctx, callback.Callback{State: "gone", Code: "c", ReceivedAt: received, Bound: bound}); !errors.Is(err, callback.ErrNotRegistered) {
				t.Fatalf("Put (bound %v) after the link expired, registration required: %v, want ErrNotRegistered", bound, err)
			}
		}
	})

	run("a sign-in link's callback that expires untaken leaves the marker", func(t *testing.T) {
		s := newStore(t)
		link := callback.Link{ID: "link-untaken-0123456789abcdef", AuthorizationURL: "https://idp.example/a"}
		if err := s.Register(ctx, anyApp, "untaken", callback.Registration{Link: &link}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, callback.Callback{State: "untaken", Code: "c", ReceivedAt: received, Bound: true}); err != nil {
			t.Fatal(err)
		}
		h.Advance(t, TTL+500*time.Millisecond) // the callback expired untaken
		if _, err := s.Put(ctx, callback.Callback{State: "untaken", Code: "forwarded", ReceivedAt: received}); !errors.Is(err, callback.ErrUnbound) {
			t.Fatalf("unbound Put after the callback expired: %v, want ErrUnbound", err)
		}
		if _, err := s.Take(ctx, anyApp, "untaken"); !errors.Is(err, callback.ErrLinkExpired) {
			t.Fatalf("Take after the callback expired: %v, want ErrLinkExpired", err)
		}
	})

	run("cancel discards, leaves a tombstone, and refuses what comes after", func(t *testing.T) {
		s := newStore(t)
		if err := s.Cancel(ctx, anyApp, "never"); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("Cancel of an unknown state: %v, want ErrNotFound", err)
		}
		assertPhase(t, s, "never", callback.PhaseUnknown)

		link := callback.Link{ID: "link-cancel-0123456789abcdef", AuthorizationURL: "https://idp.example/a"}
		if err := s.Register(ctx, anyApp, "registered", callback.Registration{Link: &link}); err != nil {
			t.Fatal(err)
		}
		mustPut(t, s, callback.Callback{State: "received", Code: "c", ReceivedAt: received})
		for _, state := range []string{"registered", "received"} {
			if err := s.Cancel(ctx, anyApp, state); err != nil {
				t.Fatalf("Cancel %s: %v", state, err)
			}
			if err := s.Cancel(ctx, anyApp, state); err != nil {
				t.Fatalf("Cancel %s twice: %v, want nil", state, err)
			}
			assertPhase(t, s, state, callback.PhaseCancelled)
			if _, err := s.Take(ctx, anyApp, state); !errors.Is(err, callback.ErrCancelled) {
				t.Fatalf("Take of cancelled %s: %v, want ErrCancelled", state, err)
			}
			if _, err := s.Put(ctx, callback.Callback{State: state, Code: "late", ReceivedAt: received, Bound: true}); !errors.Is(err, callback.ErrCancelled) {
				t.Fatalf("Put to cancelled %s: %v, want ErrCancelled", state, err)
			}
		}
		assertPending(t, s, 0)
		if _, _, _, err := s.Start(ctx, link.ID); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("Start of a cancelled link: %v, want ErrNotFound", err)
		}

		mustPut(t, s, callback.Callback{State: "taken", Code: "c", ReceivedAt: received})
		if _, err := s.Take(ctx, anyApp, "taken"); err != nil {
			t.Fatal(err)
		}
		if err := s.Cancel(ctx, anyApp, "taken"); !errors.Is(err, callback.ErrAlreadyTaken) {
			t.Fatalf("Cancel after the take: %v, want ErrAlreadyTaken", err)
		}
		assertPhase(t, s, "taken", callback.PhaseTaken)
	})

	mail, files := callback.AppNamed("mail"), callback.AppNamed("files")

	run("a state one app registered exists for no other", func(t *testing.T) {
		s := newStore(t)
		link := callback.Link{ID: "link-apps-0123456789abcdef", AuthorizationURL: "https://idp.example/a"}
		if err := s.Register(ctx, mail, "mine", callback.Registration{Link: &link}); err != nil {
			t.Fatal(err)
		}
		// Another app's take, status and cancel answer as for an unknown
		// state, and change nothing.
		assertOnlyOwnerSees := func(state string, progress callback.Phase) {
			t.Helper()
			assertPhaseFor(t, files, s, state, callback.PhaseUnknown)
			assertPhaseFor(t, mail, s, state, progress)
			if _, err := s.Take(ctx, files, state); !errors.Is(err, callback.ErrNotFound) {
				t.Fatalf("Take by another app of %s at %s: %v, want ErrNotFound", state, progress, err)
			}
			if err := s.Cancel(ctx, files, state); !errors.Is(err, callback.ErrNotFound) {
				t.Fatalf("Cancel by another app of %s at %s: %v, want ErrNotFound", state, progress, err)
			}
			assertPhaseFor(t, mail, s, state, progress)
		}
		assertOnlyOwnerSees("mine", callback.PhaseRegistered)
		if err := s.Register(ctx, files, "mine", callback.Registration{}); !errors.Is(err, callback.ErrExists) {
			t.Fatalf("Register by another app: %v, want ErrExists", err)
		}
		if _, _, _, err := s.Start(ctx, link.ID); err != nil { // the browser has no app
			t.Fatal(err)
		}
		mustPut(t, s, callback.Callback{State: "mine", Code: "c", ReceivedAt: received, Bound: true})
		assertOnlyOwnerSees("mine", callback.PhaseReceived)
		if got, err := s.Take(ctx, mail, "mine"); err != nil || got.Code != "c" {
			t.Fatalf("Take by the owner: %+v, %v", got, err)
		}
		assertOnlyOwnerSees("mine", callback.PhaseTaken)
		if _, err := s.Take(ctx, mail, "mine"); !errors.Is(err, callback.ErrAlreadyTaken) {
			t.Fatalf("second Take by the owner: %v, want ErrAlreadyTaken", err)
		}

		if err := s.Register(ctx, mail, "cancelled", callback.Registration{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Cancel(ctx, mail, "cancelled"); err != nil {
			t.Fatal(err)
		}
		assertOnlyOwnerSees("cancelled", callback.PhaseCancelled)

		if err := s.Register(ctx, mail, "conflicted", callback.Registration{}); err != nil {
			t.Fatal(err)
		}
		mustPut(t, s, callback.Callback{State: "conflicted", Code: "a", ReceivedAt: received})
		_, _ = s.Put(ctx, callback.Callback{State: "conflicted", Code: "b", ReceivedAt: received})
		assertOnlyOwnerSees("conflicted", callback.PhaseConflict)
	})

	run("a call for no app fails closed", func(t *testing.T) {
		s := newStore(t)
		var none callback.App
		if err := s.Register(ctx, none, "reg", callback.Registration{}); !errors.Is(err, callback.ErrNoApp) {
			t.Fatalf("Register for no app: %v, want ErrNoApp", err)
		}
		assertPhase(t, s, "reg", callback.PhaseUnknown)
		mustPut(t, s, callback.Callback{State: "field", Code: "c", ReceivedAt: received})
		if _, err := s.Take(ctx, none, "field"); !errors.Is(err, callback.ErrNoApp) {
			t.Fatalf("Take for no app: %v, want ErrNoApp", err)
		}
		if _, err := s.Status(ctx, none, "field"); !errors.Is(err, callback.ErrNoApp) {
			t.Fatalf("Status for no app: %v, want ErrNoApp", err)
		}
		if err := s.Cancel(ctx, none, "field"); !errors.Is(err, callback.ErrNoApp) {
			t.Fatalf("Cancel for no app: %v, want ErrNoApp", err)
		}
		// Nothing changed: the callback waits for its taker.
		assertPending(t, s, 1)
		if got, err := s.Take(ctx, anyApp, "field"); err != nil || got.Code != "c" {
			t.Fatalf("Take after the refused calls: %+v, %v", got, err)
		}
	})

	run("a callback nobody registered is every app's", func(t *testing.T) {
		s := newStore(t)
		mustPut(t, s, callback.Callback{State: "field", Code: "c", ReceivedAt: received})
		assertPhaseFor(t, mail, s, "field", callback.PhaseReceived)
		if got, err := s.Take(ctx, files, "field"); err != nil || got.Code != "c" {
			t.Fatalf("Take by any app: %+v, %v", got, err)
		}
		if _, err := s.Take(ctx, mail, "field"); !errors.Is(err, callback.ErrAlreadyTaken) {
			t.Fatalf("Take by another app after: %v, want ErrAlreadyTaken", err)
		}
	})

	run("an app's claim ends with its state", func(t *testing.T) {
		s := newStore(t)
		if err := s.Register(ctx, mail, "reused", callback.Registration{TTL: time.Second}); err != nil {
			t.Fatal(err)
		}
		h.Advance(t, time.Second+500*time.Millisecond) // the registration expired, nothing else was kept
		mustPut(t, s, callback.Callback{State: "reused", Code: "c", ReceivedAt: received})
		if got, err := s.Take(ctx, files, "reused"); err != nil || got.Code != "c" {
			t.Fatalf("Take by another app of a callback nobody registered any longer: %+v, %v", got, err)
		}

		if err := s.Register(ctx, mail, "again", callback.Registration{TTL: time.Second}); err != nil {
			t.Fatal(err)
		}
		h.Advance(t, time.Second+500*time.Millisecond)
		if err := s.Register(ctx, files, "again", callback.Registration{}); err != nil {
			t.Fatalf("Register by another app once the first expired: %v", err)
		}
		mustPut(t, s, callback.Callback{State: "again", Code: "c", ReceivedAt: received})
		if _, err := s.Take(ctx, mail, "again"); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("Take by the first owner: %v, want ErrNotFound", err)
		}
		if got, err := s.Take(ctx, files, "again"); err != nil || got.Code != "c" {
			t.Fatalf("Take by the new owner: %+v, %v", got, err)
		}
	})

	run("an app's flood of registrations and callbacks leaves the others' sign-ins working", func(t *testing.T) {
		const budget = 64 << 10
		s := budgeted(t, callback.StoreConfig{TTL: TTL, MaxBytes: budget, AppShares: map[string]float64{"mail": 0.5, "files": 0.5}})
		signIn := func(app callback.App, state string, code string) {
			t.Helper()
			state = inPart(state)
			if err := s.Register(ctx, app, state, callback.Registration{}); err != nil {
				t.Fatalf("Register %s: %v", state, err)
			}
			mustPut(t, s, callback.Callback{State: state, Code: code, ReceivedAt: received})
			if got, err := s.Take(ctx, app, state); err != nil || got.Code != code {
				t.Fatalf("Take %s: %v", state, err)
			}
		}
		// mail registers until its part of the registrations' share is used.
		registered := 0
		for ; ; registered++ {
			err := s.Register(ctx, mail, inPart(fmt.Sprintf("mail-%d", registered)), callback.Registration{})
			if errors.Is(err, callback.ErrFull) {
				break
			}
			if err != nil || registered > budget {
				t.Fatalf("registration %d of mail: %v", registered, err)
			}
		}
		signIn(files, "files-1", "code-1")
		// mail's registered states receive large callbacks until its share
		// of the whole budget is used, before its registrations are.
		big := strings.Repeat("x", 4<<10)
		full := -1
		for i := range registered {
			_, err := s.Put(ctx, callback.Callback{State: inPart(fmt.Sprintf("mail-%d", i)), Code: big, ReceivedAt: received})
			if errors.Is(err, callback.ErrFull) {
				full = i
				break
			}
			if err != nil {
				t.Fatalf("callback %d of mail: %v", i, err)
			}
		}
		if full < 0 {
			t.Fatalf("mail's %d callbacks of 4 KiB all fit in its half of %d bytes", registered, budget)
		}
		signIn(files, "files-2", big)
		// Taken, mail's callbacks give its share back.
		for i := range full {
			if _, err := s.Take(ctx, mail, inPart(fmt.Sprintf("mail-%d", i))); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Put(ctx, callback.Callback{State: inPart(fmt.Sprintf("mail-%d", full)), Code: big, ReceivedAt: received}); err != nil {
			t.Fatalf("mail's callback once its others were taken: %v", err)
		}
	})

	run("an app's share is its own, whatever the other apps and the anonymous hold", func(t *testing.T) {
		cfg := callback.StoreConfig{TTL: TTL, MaxBytes: 64 << 10, AppShares: map[string]float64{"mail": 0.5, "files": 0.5}}
		newBudgeted := func() callback.Store { return budgeted(t, cfg) }
		big := strings.Repeat("x", 1<<10)
		// signIns counts the sign-ins (registered, their callback stored and
		// left untaken) app completes before the store refuses one.
		signIns := func(s callback.Store, app callback.App, prefix string) int {
			t.Helper()
			for i := 0; ; i++ {
				state := inPart(fmt.Sprint(prefix, i))
				err := s.Register(ctx, app, state, callback.Registration{})
				if err == nil {
					_, err = s.Put(ctx, callback.Callback{State: state, Code: big, ReceivedAt: received})
				}
				if errors.Is(err, callback.ErrFull) {
					return i
				}
				if err != nil || i > 1000 {
					t.Fatalf("%v's sign-in %d: %v", app, i, err)
				}
			}
		}
		alone := signIns(newBudgeted(), callback.AppNamed("files"), "files-")
		if alone == 0 {
			t.Fatal("files signs nobody in, even alone")
		}
		crowded := newBudgeted()
		for i := 0; ; i++ { // the anonymous fill their share
			_, err := crowded.Put(ctx, callback.Callback{State: inPart(fmt.Sprint("anonymous-", i)), Code: big, ReceivedAt: received})
			if errors.Is(err, callback.ErrFull) {
				break
			}
			if err != nil || i > 1000 {
				t.Fatalf("anonymous callback %d: %v", i, err)
			}
		}
		signIns(crowded, mail, "mail-")
		if got := signIns(crowded, files, "files-"); got < alone {
			t.Fatalf("files signs %d people in beside mail's and the anonymous' floods, %d alone: its share was not its own", got, alone)
		}
	})

	run("status of a conflicted state", func(t *testing.T) {
		s := newStore(t)
		mustPut(t, s, callback.Callback{State: "x", Code: "a", ReceivedAt: received})
		st, err := s.Status(ctx, anyApp, "x")
		if err != nil || st.Phase != callback.PhaseReceived || st.ExpiresAt.IsZero() {
			t.Fatalf("Status: %+v, %v; want received with an expiry", st, err)
		}
		_, _ = s.Put(ctx, callback.Callback{State: "x", Code: "b", ReceivedAt: received})
		assertPhase(t, s, "x", callback.PhaseConflict)
		if err := s.Cancel(ctx, anyApp, "x"); !errors.Is(err, callback.ErrConflict) {
			t.Fatalf("Cancel of a conflicted state: %v, want ErrConflict", err)
		}
	})

	run("ping", func(t *testing.T) {
		if err := newStore(t).Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

// bringTo brings state to phase on s: registered with link (but for
// PhaseUnknown), first received, second conflicting, or the link's time
// run out (h.Advance).
func bringTo(t *testing.T, s callback.Store, h Harness, phase callback.Phase, state string, link callback.Link, first, second callback.Callback) {
	t.Helper()
	ctx := context.Background()
	if phase == callback.PhaseUnknown {
		return
	}
	if err := s.Register(ctx, anyApp, state, callback.Registration{TTL: TTL, Link: &link}); err != nil {
		t.Fatalf("Register: %v", err)
	}
	if phase == callback.PhaseRegistered || phase == callback.PhaseCancelled || phase == callback.PhaseExpired {
		switch phase {
		case callback.PhaseCancelled:
			if err := s.Cancel(ctx, anyApp, state); err != nil {
				t.Fatalf("Cancel: %v", err)
			}
		case callback.PhaseExpired:
			h.Advance(t, TTL+500*time.Millisecond)
		}
		assertPhase(t, s, state, phase)
		return
	}
	if _, _, _, err := s.Start(ctx, link.ID); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if phase != callback.PhaseStarted {
		mustPut(t, s, first)
	}
	switch phase {
	case callback.PhaseTaken:
		if _, err := s.Take(ctx, anyApp, state); err != nil {
			t.Fatalf("Take: %v", err)
		}
	case callback.PhaseConflict:
		if _, err := s.Put(ctx, second); !errors.Is(err, callback.ErrConflict) {
			t.Fatalf("the second callback: %v, want ErrConflict", err)
		}
	}
	assertPhase(t, s, state, phase)
}

// onePart returns a function that names a state of one budget part for
// each name it is given (the name itself for a store with one part):
// the name with the first suffix #k that falls in the part of the first
// name asked. The same name gives the same state.
func onePart(h Harness) func(name string) string {
	var (
		mu     sync.Mutex
		anchor string
		names  = map[string]string{}
	)
	return func(name string) string {
		if h.SameBudgetPart == nil {
			return name
		}
		mu.Lock()
		defer mu.Unlock()
		if state, ok := names[name]; ok {
			return state
		}
		for k := 0; ; k++ {
			state := fmt.Sprintf("%s#%d", name, k)
			if anchor == "" {
				anchor = state
			}
			if h.SameBudgetPart(anchor, state) {
				names[name] = state
				return state
			}
		}
	}
}

// Drain empties a wake-up channel, for tests that wait for the next one.
func Drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func mustPut(t *testing.T, s callback.Store, c callback.Callback) {
	t.Helper()
	if _, err := s.Put(context.Background(), c); err != nil {
		t.Fatalf("Put(%q): %v", c.State, err)
	}
}

func assertPending(t *testing.T, s callback.Store, want int64) {
	t.Helper()
	got, err := s.Pending(context.Background())
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	if got != want {
		t.Fatalf("Pending: got %d, want %d", got, want)
	}
}

func assertEqual(t *testing.T, got, want callback.Callback) {
	t.Helper()
	if got.State != want.State || got.Code != want.Code || got.Error != want.Error ||
		got.ErrorDescription != want.ErrorDescription || got.Iss != want.Iss ||
		!got.ReceivedAt.Equal(want.ReceivedAt) || fmt.Sprint(got.Params) != fmt.Sprint(want.Params) {
		t.Fatalf("callback:\n got  %+v\n want %+v", got, want)
	}
}

// Bench measures one callback's whole life in a store: Put, then Take.
func Bench(b *testing.B, s callback.Store) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var buf [16]byte
		for pb.Next() {
			state := randomState(buf[:])
			if _, err := s.Put(ctx, callback.Callback{State: state, Code: "bench-code", ReceivedAt: time.Now()}); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Take(ctx, anyApp, state); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func randomState(buf []byte) string {
	_, _ = rand.Read(buf)
	return hex.EncodeToString(buf)
}

func assertPhase(t *testing.T, s callback.Store, state string, want callback.Phase) {
	t.Helper()
	assertPhaseFor(t, anyApp, s, state, want)
}

// assertPhaseFor checks the state's progress as app sees it.
func assertPhaseFor(t *testing.T, app callback.App, s callback.Store, state string, want callback.Phase) {
	t.Helper()
	st, err := s.Status(context.Background(), app, state)
	if err != nil {
		t.Fatalf("Status %s: %v", state, err)
	}
	if st.Phase != want {
		t.Fatalf("Status %s: %q, want %q", state, st.Phase, want)
	}
	if (want == callback.PhaseUnknown) != st.ExpiresAt.IsZero() {
		t.Fatalf("Status %s: expires %v", state, st.ExpiresAt)
	}
}

// shareOf is share of budget bytes, as the stores round it.
func shareOf(budget int, share float64) int { return int(float64(budget) * share) }
