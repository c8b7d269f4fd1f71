package redisstore

import (
	"fmt"
	"testing"
)

// crc16 is Redis Cluster's key-slot hash (CRC-16/XMODEM).
func crc16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// Each partition's slot is in its own sixteenth of the slots, so that the
// partitions spread evenly over primaries holding equal ranges: on three,
// 5, 6 and 5 of them.
func TestPartitionTagsSpreadOverTheSlots(t *testing.T) {
	perNode := map[int]int{}
	for i, tag := range partitionTags {
		slot := int(crc16([]byte(tag)) % 16384)
		if lo, hi := 1024*i, 1024*(i+1); slot < lo || slot >= hi {
			t.Errorf("partition %d's tag %q is slot %d, not in [%d, %d)", i, tag, slot, lo, hi)
		}
		perNode[slot*3/16384]++
	}
	if fmt.Sprint(perNode) != "map[0:5 1:6 2:5]" {
		t.Errorf("partitions per primary of three: %v", perNode)
	}
}

// A state's partition depends on the state alone: on no key, so replicas
// in a key rotation agree on it. And states spread over all partitions.
func TestStatesSpreadOverThePartitions(t *testing.T) {
	seen := map[int]int{}
	for i := range 1600 {
		seen[partitionOf("", fmt.Sprint("state-", i))]++
	}
	for p := range partitions {
		if n := seen[p]; n < 60 || n > 140 {
			t.Errorf("partition %d holds %d of 1600 states", p, n)
		}
	}
}
