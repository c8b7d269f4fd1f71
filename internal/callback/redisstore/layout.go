package redisstore

import (
	"crypto/sha256"
	"strconv"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// partitions is how many parts the keyspace and the byte budget are cut
// into. Every key of a sign-in, and the budget it counts against, is in
// its partition's slot, so that one script on one node does a whole step;
// and no key is shared by every sign-in. Sixteen spread evenly over a
// Cluster of up to about sixteen primaries (partitionTags), while each
// partition's part of the budget (1/16) stays large enough to hold many
// sign-ins.
const partitions = 16

// partitionTags are the partitions' Cluster hash tags: partition i's slot
// is in the i-th sixteenth of the 16 384 slots, so that a Cluster whose
// primaries hold equal ranges of slots (as redis-cli --cluster create
// makes them) holds equal numbers of partitions, give or take one
// (layout_test.go checks the slots).
var partitionTags = [partitions]string{
	"p64",  // slot 492
	"p126", // slot 1410
	"p19",  // slot 2518
	"p3",   // slot 3689
	"p65",  // slot 4557
	"p127", // slot 5539
	"p18",  // slot 6647
	"p2",   // slot 7752
	"p66",  // slot 8622
	"p48",  // slot 9730
	"p160", // slot 10624
	"p1",   // slot 11819
	"p67",  // slot 12687
	"p49",  // slot 13859
	"p161", // slot 14753
	"p0",   // slot 15882
}

// partitionOf is the partition of a state, or of a link ID (domain tells
// them apart). It depends on them alone, never on a key: replicas with
// different encryption keys must agree on it.
func partitionOf(domain, id string) int {
	sum := sha256.Sum256([]byte(domain + id))
	return int(sum[0]) % partitions
}

// linkDomain keeps a link ID's names, keys and partition apart from a
// state's.
const linkDomain = "sign-in-link\x00"

// The record of a sign-in is one hash. Its fields, which the scripts read
// by the same names (scripts.go hands them over):
const (
	fieldPhase  = "phase"  // a callback.Phase, never unknown
	fieldUntil  = "until"  // when the phase ends, Unix milliseconds
	fieldOwner  = "owner"  // the app that registered the state; absent: nobody's
	fieldLink   = "link"   // the name of the sign-in link's ID; absent: registered without one
	fieldIssuer = "issuer" // issuerHash of the issuer the registration named
	fieldReg    = "reg"    // the sealed registration (registrationValue)
	fieldFP     = "fp"     // callback.Fingerprint of the callback received
	fieldCB     = "cb"     // the sealed callback, until it is taken
	fieldHeld   = "held"   // what the record counts in its partition's budget: "<class> <bytes> <second>"
	fieldAppCap = "appcap" // the owner's part of its share, in this partition, when it has one
)

// The fields of a partition's budget (P{tag}:budget, the running totals,
// and P{tag}:budget:<second>, what stops counting in that second).
const (
	budgetSecond           = "second" // the running totals: the second they are brought up to
	classUnregistered      = "u"      // bytes of callbacks of unregistered states
	classRegistration      = "g"      // bytes of registrations waiting for their callback
	classRegistered        = "r"      // bytes of callbacks of registered states
	budgetPending          = "n"      // callbacks received and not taken
	budgetApp              = "a:"     // + app: bytes of the app's sign-ins
	budgetAppRegistrations = "ag:"    // + app: bytes of the app's registrations
)

// keyspace names a store's keys.
type keyspace struct{ prefix string }

func (k keyspace) tag(partition int) string { return k.prefix + "{" + partitionTags[partition] + "}:" }

// record is the key of a sign-in's record under one of its names.
func (k keyspace) record(partition int, name string) string { return k.tag(partition) + "s:" + name }

// budget is the key of a partition's running totals; a bucket's is
// budget + ":" + its second (the scripts derive it).
func (k keyspace) budget(partition int) string { return k.tag(partition) + "budget" }

// link is the key that finds a sign-in link's state: the state sealed
// under the link's ID.
func (k keyspace) link(partition int, linkName string) string {
	return k.tag(partition) + "link:" + linkName
}

// wake is the channel a state's wake-ups go to, under one of its names.
func (k keyspace) wake(partition int, name string) string { return k.tag(partition) + "wake:" + name }

// bucket is the key of what stops counting in second t.
func bucket(budgetKey string, t int64) string {
	return budgetKey + ":" + strconv.FormatInt(t, 10)
}

// signIn is where one state's record and budget are.
type signIn struct {
	partition int
	names     []string // the state's names, under each key, the current one first
	records   []string // its record's key under each name
	channels  []string // its wake-up channel under each name
	budget    string
}

func (s *Store) signIn(state string) signIn {
	p := partitionOf("", state)
	in := signIn{partition: p, names: s.sealer.Names(state), budget: s.keys.budget(p)}
	for _, n := range in.names {
		in.records = append(in.records, s.keys.record(p, n))
		in.channels = append(in.channels, s.keys.wake(p, n))
	}
	return in
}

// phaseNames are the phases a record holds, as the scripts spell them.
var phaseNames = []callback.Phase{callback.PhaseRegistered, callback.PhaseStarted, callback.PhaseReceived,
	callback.PhaseTaken, callback.PhaseConflict, callback.PhaseCancelled, callback.PhaseExpired}
