package redisstore

import (
	"crypto/sha256"

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

// The record of a sign-in is one string: its fields, in recordFields'
// order, separated by spaces, none for an empty one. Small, so that a
// script reads and writes it cheaply; the sealed values it names are keys
// of their own (blobs).
//
//	phase         a callback.Phase, never unknown
//	until         when the phase ends, Unix milliseconds
//	fp            callback.Fingerprint of the callback received or taken
//	callback      the nonce of the sealed callback's blob, while received
//	registration  the nonce of the sealed registration's blob
//	held          what it counts in the partition's budget: "<class>:<bytes>:<second>"
//	owner         the app that registered the state
//	appcap        the owner's part of its share in the partition, when it has one
//	link          stateHash of the sign-in link's ID, when registered with one
//	issuer        stateHash of the issuer the registration named
var recordFields = []string{"phase", "until", "fp", "callback", "registration", "held", "owner", "appcap", "link", "issuer"}

// none is an empty field of a record, and an absent argument of a script.
const none = "-"

// The fields of a partition's budget (P{tag}:budget): the running totals
// by class and app, the callbacks pending, each with its parts by the
// second they stop counting in (field@second), and the second the totals
// are counted up to.
const (
	budgetCaughtUp         = "t"
	classUnregistered      = "u"   // bytes of callbacks of unregistered states
	classRegistration      = "g"   // bytes of registrations waiting for their callback
	classRegistered        = "r"   // bytes of callbacks of registered states
	budgetPending          = "n"   // callbacks received and not taken
	budgetApp              = "a:"  // + app: bytes of the app's sign-ins
	budgetAppRegistrations = "ag:" // + app: bytes of the app's registrations
	// budgetPart joins a total's field and a second: the part of the total
	// that stops counting in that second.
	budgetPart = "@"
)

// The blobs: a sealed callback's and a sealed registration's keys are the
// partition's tag, their kind and a random nonce the record names.
const (
	blobCallback     = "cb:"
	blobRegistration = "reg:"
	budgetSuffix     = "budget"
)

// keyspace names a store's keys.
type keyspace struct{ prefix string }

func (k keyspace) tag(partition int) string { return k.prefix + "{" + partitionTags[partition] + "}:" }

// record is the key of a sign-in's record under one of its names.
func (k keyspace) record(partition int, name string) string { return k.tag(partition) + "s:" + name }

// budget is the key of a partition's byte budget.
func (k keyspace) budget(partition int) string { return k.tag(partition) + budgetSuffix }

// blob is the key of a sealed value: kind (blobCallback, blobRegistration)
// and its nonce.
func (k keyspace) blob(partition int, kind, nonce string) string {
	return k.tag(partition) + kind + nonce
}

// link is the key that finds a sign-in link's state: the state sealed
// under the link's ID.
func (k keyspace) link(partition int, linkName string) string {
	return k.tag(partition) + "link:" + linkName
}

// wake is the channel a state's wake-ups go to, under one of its names.
func (k keyspace) wake(partition int, name string) string { return k.tag(partition) + "wake:" + name }

// signIn is where one state's record and budget are.
type signIn struct {
	state     string
	partition int
	names     []string // the state's names, under each key, the current one first
	records   []string // its record's key under each name
	channels  []string // its wake-up channel under each name
	budget    string
}

func (s *Store) signIn(state string) signIn {
	p := partitionOf("", state)
	in := signIn{state: state, partition: p, names: s.sealer.Names(state), budget: s.keys.budget(p)}
	for _, n := range in.names {
		in.records = append(in.records, s.keys.record(p, n))
		in.channels = append(in.channels, s.keys.wake(p, n))
	}
	return in
}

// phaseNames are the phases a record holds, as the scripts spell them.
var phaseNames = []callback.Phase{callback.PhaseRegistered, callback.PhaseStarted, callback.PhaseReceived,
	callback.PhaseTaken, callback.PhaseConflict, callback.PhaseCancelled, callback.PhaseExpired}
