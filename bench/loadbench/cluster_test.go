package main

import "testing"

func TestClusterCountedCommands(t *testing.T) {
	calls := map[string]int{
		"get": 3, "hincrby": 8, "evalsha": 2, // the script counted by its commands
		"config|resetstat": 1, "info": 2, // the bench's own
		"cluster|slots": 5, "ping": 7, // the client's, on a timer
	}
	if got, want := clusterCountedCommands(calls), 11; got != want {
		t.Errorf("got %d, want %d", got, want)
	}
}
