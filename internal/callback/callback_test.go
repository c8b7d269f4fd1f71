package callback_test

import (
	"strings"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// json.Marshal writes each < > & as six bytes: a callback full of them
// would take six times its size in the store.
func TestEncodeKeepsTheSizeOfWhatWasSent(t *testing.T) {
	c := callback.Callback{State: "s", Code: "c", Params: map[string]string{"p": strings.Repeat("<>&", 1000)}}
	b, err := callback.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > c.Size()+200 || strings.Contains(string(b), `\u003c`) {
		t.Errorf("encoded %d bytes for a callback of %d", len(b), c.Size())
	}
}

// Size is what is stored, beyond a fixed frame: the cap (which counts Size)
// and the budget (which counts what is stored) agree byte for byte, for
// text that escapes to more bytes than it has (Hostile traffic, round 3,
// item 2) as for plain text.
func TestSizeCountsWhatIsStored(t *testing.T) {
	received := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)
	empty, _ := callback.Encode(callback.Callback{ReceivedAt: received})
	for name, c := range map[string]callback.Callback{
		"plain": {Code: "12345", Error: "ab", ErrorDescription: "cd", Iss: "https://i",
			Params: map[string]string{"iss": "https://i", "session_state": "xyz"}},
		"escaped": {Code: "c", ErrorDescription: strings.Repeat("\"\\\r\n\t\u2028\u2029", 100),
			Params: map[string]string{"p\n": strings.Repeat("\u2028", 500)}},
	} {
		c.ReceivedAt = received
		stored, err := callback.Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := c.Size(), len(stored)-len(empty); got != want {
			t.Errorf("%s: Size %d, stored %d bytes beyond the frame", name, got, want)
		}
	}
	// Plain text counts about what was sent: the names, the values and
	// their quotes.
	plain := callback.Callback{Code: strings.Repeat("c", 1000), ReceivedAt: received}
	if got := plain.Size(); got < 1000 || got > 1020 {
		t.Errorf("a 1000-byte code: Size %d", got)
	}
}

func TestFingerprint(t *testing.T) {
	a := callback.Callback{State: "s", Code: "code"}
	same := callback.Callback{State: "s", Code: "code", Params: map[string]string{"x": "y"}}
	for _, other := range []callback.Callback{
		{State: "s", Code: "other"},
		{State: "s", Error: "code"},
		{State: "t", Code: "code"},
	} {
		if callback.Fingerprint(a) == callback.Fingerprint(other) {
			t.Errorf("%+v and %+v share a fingerprint", a, other)
		}
	}
	if callback.Fingerprint(a) != callback.Fingerprint(same) || len(callback.Fingerprint(a)) != 32 {
		t.Error("the same code and error must have the same 32-digit fingerprint")
	}
}

func TestStateHasher(t *testing.T) {
	var zero callback.StateHasher
	unkeyed, keyed := callback.NewStateHasher(nil), callback.NewStateHasher([]byte("server-secret-0123456789abcdef"))
	if zero.Hash("s") != unkeyed.Hash("s") || callback.NewStateHasher(nil).Hash("s") != unkeyed.Hash("s") || len(unkeyed.Hash("s")) != 12 {
		t.Error("hash not stable, or not 12 digits")
	}
	if keyed.Hash("s") == unkeyed.Hash("s") {
		t.Error("the server secret does not change the hash: short states could be found by trying")
	}
	if unkeyed.Hash("s") == unkeyed.Hash("t") {
		t.Error("two states, one hash")
	}
}

// TestAppBudgetIsAShareOfWhatRegisteredSignInsMayUse: an app is promised
// its share of the 40 % that callbacks of unregistered states can never
// take, or of the whole budget when registration is required and they
// are never stored; a share of the whole was over-committed.
func TestAppBudgetIsAShareOfWhatRegisteredSignInsMayUse(t *testing.T) {
	for _, tt := range []struct {
		require                   bool
		app                       string
		wantTotal, wantRegistered int64
		wantOK                    bool
	}{
		{false, "mail", 200, 100, true},
		{true, "mail", 500, 100, true},
		{false, "other", 0, 0, false}, // no share of its own
	} {
		c := callback.StoreConfig{MaxBytes: 1000, RequireRegistration: tt.require, AppShares: map[string]float64{"mail": 0.5}}
		total, registrations, ok := c.AppBudget(tt.app)
		if total != tt.wantTotal || registrations != tt.wantRegistered || ok != tt.wantOK {
			t.Errorf("require %v, %s: %d, %d, %v; want %d, %d, %v", tt.require, tt.app, total, registrations, ok, tt.wantTotal, tt.wantRegistered, tt.wantOK)
		}
	}
}
