package redisstore

import "strings"

// Partitions and SamePartition let the shared store suite run its budget
// cases within one partition (storetest.Harness.BudgetParts).
const Partitions = partitions

// SamePartition reports whether two states share a partition.
func SamePartition(a, b string) bool { return partitionOf("", a) == partitionOf("", b) }

// RecordKey is the key of state's record, under its first name.
func (s *Store) RecordKey(state string) string { return s.signIn(state).records[0] }

// BudgetKey is the key of the running totals of state's partition.
func (s *Store) BudgetKey(state string) string { return s.signIn(state).budget }

// WakeChannel is state's wake-up channel, under its first name.
func (s *Store) WakeChannel(state string) string { return s.signIn(state).channels[0] }

// BridgeActive reports whether the store reads the previous layout.
func (s *Store) BridgeActive() bool { return s.bridge.active() }

// Field is a field of a record's string (layout.go's recordFields).
func Field(record, name string) string {
	for i, f := range strings.Split(record, " ") {
		if recordFields[i] == name {
			return f
		}
	}
	return ""
}
