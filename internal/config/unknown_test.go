package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestUnknownVariablesAreNamedWithTheClosestKnownOne(t *testing.T) {
	got := UnknownVariables([]string{
		"OAUTH_CALLBACK_REDIS_ULR=redis://r:6379", // transposed
		"OAUTH_CALLBACK_PORT=8000",                // known
		"OAUTH_CALLBACK_API_TOKEN=tok",            // one letter short
		"OAUTH_CALLBACK_METRICS_PORT=9090",        // four edits: named, no slip
		"OAUTH_CALLBACK_URL=http://x",             // two edits from TTL, a word of its own
		"OAUTH_CALLBACK_SOMETHING_ELSE=1",         // nothing close
		"PATH=/usr/bin",                           // not ours
		"OAUTH_CALLBACK_REDIS_ULR=again",          // once
	})
	want := []Unknown{
		{Name: "OAUTH_CALLBACK_API_TOKEN", Closest: "OAUTH_CALLBACK_API_TOKENS", Misspelt: true},
		{Name: "OAUTH_CALLBACK_METRICS_PORT", Closest: "OAUTH_CALLBACK_METRICS_ADDR"},
		{Name: "OAUTH_CALLBACK_REDIS_ULR", Closest: "OAUTH_CALLBACK_REDIS_URL", Misspelt: true},
		{Name: "OAUTH_CALLBACK_SOMETHING_ELSE"},
		{Name: "OAUTH_CALLBACK_URL", Closest: "OAUTH_CALLBACK_TTL"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// A slip is refused, each with its did-you-mean and never its value (it
// may be a password); a name further away is left to the warning.
func TestMisspellingsAreConfigurationErrors(t *testing.T) {
	err := Misspellings([]string{"OAUTH_CALLBACK_REDIS_ULR=redis://r:6379", "OAUTH_CALLBACK_REDIS_PASWORD=hunter2-secret", "OAUTH_CALLBACK_SOMETHING_ELSE=1", "OAUTH_CALLBACK_PORT=8000"})
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("got %v, want *Error", err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "OAUTH_CALLBACK_REDIS_PASWORD: ") || !strings.Contains(lines[0], "did you mean OAUTH_CALLBACK_REDIS_PASSWORD?") ||
		!strings.HasPrefix(lines[1], "OAUTH_CALLBACK_REDIS_ULR: ") || !strings.Contains(lines[1], "did you mean OAUTH_CALLBACK_REDIS_URL?") {
		t.Errorf("got:\n%s", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the value is shown:\n%s", err)
	}
	if err := Misspellings([]string{"OAUTH_CALLBACK_SOMETHING_ELSE=1", "OAUTH_CALLBACK_TEST_BACKEND=/x:valkey", "OAUTH_CALLBACK_PORT=1"}); err != nil {
		t.Errorf("names that are no slip: %v", err)
	}
}

// Damerau–Levenshtein, not its restricted form (optimal string
// alignment), which cannot edit a transposed pair again: CA to ABC is two
// edits (transpose, insert), not three.
func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"", "abc", 3}, {"abc", "", 3}, {"URL", "URL", 0},
		{"ULR", "URL", 1}, {"URL", "URI", 1}, {"TOKEN", "TOKENS", 1}, {"PASWORD", "PASSWORD", 1},
		{"CA", "ABC", 2}, {"REDIS_ULR", "REDSI_URL", 2}, {"kitten", "sitting", 3}, {"PORT", "ADDR", 4},
	} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := editDistance(tt.b, tt.a); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d (symmetric)", tt.b, tt.a, got, tt.want)
		}
	}
}
