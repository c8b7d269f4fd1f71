package main

import "testing"

func TestEnvListSet(t *testing.T) {
	var e envList
	for _, ok := range []string{"A=1", "B=", "C=x=y"} {
		if err := e.Set(ok); err != nil {
			t.Errorf("Set(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "A", "=1"} {
		if err := e.Set(bad); err == nil {
			t.Errorf("Set(%q): no error", bad)
		}
	}
	if got, want := e.String(), "A=1 B= C=x=y"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
