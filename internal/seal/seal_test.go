package seal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/oauth-callback-server/oauth-callback-server/internal/seal"
)

func TestRoundTrip(t *testing.T) {
	s := seal.New([]byte("server-secret-0123456789abcdef0123"))
	sealed, err := s.Seal("state-1", []byte(`{"code":"abc"}`), []byte("key-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("abc")) {
		t.Fatal("plaintext visible in the sealed value")
	}
	got, err := s.Open("state-1", sealed, []byte("key-1"))
	if err != nil || string(got) != `{"code":"abc"}` {
		t.Fatalf("Open: %q, %v", got, err)
	}
}

func TestOpenRefusesWhatItShouldNot(t *testing.T) {
	s := seal.New([]byte("server-secret-0123456789abcdef0123"))
	sealed, _ := s.Seal("state-1", []byte("secret"), []byte("key-1"))
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	otherVersion := bytes.Clone(sealed)
	otherVersion[0] = 2
	tests := []struct {
		name   string
		sealer *seal.Sealer
		state  string
		value  []byte
		aad    string
	}{
		{"other state", s, "state-2", sealed, "key-1"},
		{"other key (aad)", s, "state-1", sealed, "key-2"},
		{"other server secret (rotation)", seal.New([]byte("another-secret-0123456789abcdef01")), "state-1", sealed, "key-1"},
		{"no server secret", seal.New(nil), "state-1", sealed, "key-1"},
		{"tampered", s, "state-1", flipped, "key-1"},
		{"unknown version", s, "state-1", otherVersion, "key-1"},
		{"too short", s, "state-1", sealed[:10], "key-1"},
		{"empty", s, "state-1", nil, "key-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.sealer.Open(tt.state, tt.value, []byte(tt.aad)); !errors.Is(err, seal.ErrOpen) {
				t.Fatalf("got %v, want ErrOpen", err)
			}
		})
	}
}

func TestNamesAreKeyedAndStable(t *testing.T) {
	a, b := seal.New([]byte("secret-a-0123456789abcdef0123456")), seal.New([]byte("secret-b-0123456789abcdef0123456"))
	if a.Name("s") != seal.New([]byte("secret-a-0123456789abcdef0123456")).Name("s") {
		t.Error("name not stable across Sealers with the same secret")
	}
	if a.Name("s") == b.Name("s") {
		t.Error("name does not depend on the server secret")
	}
	if a.Name("s") == a.Name("t") || len(a.Name("s")) != 64 {
		t.Errorf("name: %q", a.Name("s"))
	}
}

func TestSealingIsRandomised(t *testing.T) {
	s := seal.New(nil)
	x, _ := s.Seal("st", []byte("same"), nil)
	y, _ := s.Seal("st", []byte("same"), nil)
	if bytes.Equal(x, y) {
		t.Error("two seals of the same value are equal: nonce reused")
	}
}

// FuzzOpen: the decoder takes whatever Redis holds; it must never panic.
func FuzzOpen(f *testing.F) {
	s := seal.New([]byte("fuzz-secret-0123456789abcdef012345"))
	good, _ := s.Seal("state", []byte("value"), []byte("key"))
	f.Add(good, "state", "key")
	f.Add([]byte{1}, "state", "key")
	f.Add([]byte{}, "", "")
	f.Fuzz(func(t *testing.T, sealed []byte, state, aad string) {
		plain, err := s.Open(state, sealed, []byte(aad))
		// Only a value this Sealer sealed for ("state", "key") may open.
		// Not compared with good byte for byte: each fuzz worker runs this
		// function anew, so its good has another nonce than the seed corpus
		// the coordinator recorded.
		if err == nil && !(state == "state" && aad == "key" && string(plain) == "value") {
			t.Fatalf("opened a forged value: %q", plain)
		}
	})
}

// During a rotation replicas run with "new,old" while others still run
// "old" or "old,new": each must open what the others sealed, and name new
// entries under its first secret only.
func TestRotation(t *testing.T) {
	oldKey, newKey := []byte("old-secret-0123456789abcdef012345"), []byte("new-secret-0123456789abcdef012345")
	before, during, after := seal.New(oldKey), seal.New(newKey, oldKey), seal.New(newKey)

	sealedBefore, _ := before.Seal("st", []byte("v1"), []byte("k"))
	if got, err := during.Open("st", sealedBefore, []byte("k")); err != nil || string(got) != "v1" {
		t.Fatalf("new,old opening an old value: %q, %v", got, err)
	}
	sealedDuring, _ := during.Seal("st", []byte("v2"), []byte("k"))
	if got, err := after.Open("st", sealedDuring, []byte("k")); err != nil || string(got) != "v2" {
		t.Fatalf("new opening a value sealed by new,old: %q, %v", got, err)
	}
	if _, err := after.Open("st", sealedBefore, []byte("k")); !errors.Is(err, seal.ErrOpen) {
		t.Fatalf("a retired key still opens: %v", err)
	}
	if during.Name("st") != after.Name("st") || during.Name("st") == before.Name("st") {
		t.Error("new entries are not named under the first secret")
	}
	names := during.Names("st")
	if len(names) != 2 || names[0] != after.Name("st") || names[1] != before.Name("st") {
		t.Errorf("Names: %v", names)
	}
}
