package legacy

import (
	"crypto/sha256"
	"encoding/hex"
)

// registrationName is what a registration's bytes are counted under in the
// accounts, beside its callback's under name.
func registrationName(name string) string { return classRegistration + ":" + name }

// linkKeys are the keys under which a link's state may be stored, one per
// secret (the current one first), in a slot of their own.
func (s *Store) linkKeys(id string) []string {
	tag := sha256.Sum256([]byte(linkDomain + id))
	base := s.prefix + "{" + hex.EncodeToString(tag[:2]) + "}:link:"
	var keys []string
	for _, n := range s.sealer.Names(linkDomain + id) {
		keys = append(keys, base+n)
	}
	return keys
}

// stateKeys are one state's keys under each of its names (the current
// secret's first); all carry the same hash tag.
type stateKeys struct {
	names   []nameKeys
	pending string
}

type nameKeys struct {
	name, callback, tombstone, registration string
	// owner holds the app that registered the state, as long as anything
	// about the state may be kept (callback.OwnerTTL).
	owner string
}

// keysPerName is how many keys stateKeys gives per name.
const keysPerName = 4

func (s *Store) keys(state string) stateKeys {
	tag := sha256.Sum256([]byte(state))
	base := s.prefix + "{" + hex.EncodeToString(tag[:2]) + "}:"
	k := stateKeys{pending: s.pendingKey()}
	for _, n := range s.sealer.Names(state) {
		k.names = append(k.names, nameKeys{name: n, callback: base + n, tombstone: base + n + ":taken",
			registration: base + n + ":reg", owner: base + n + ":owner"})
	}
	return k
}

// stateKeys are the keys of the state's slot: per name, its callback,
// tombstone, registration and owner (the scripts' prelude finds them).
func (k stateKeys) stateKeys() []string {
	keys := make([]string, 0, keysPerName*len(k.names)+7) // room for scriptKeys' accounting keys
	for _, n := range k.names {
		keys = append(keys, n.callback, n.tombstone, n.registration, n.owner)
	}
	return keys
}

func (k stateKeys) callbackKeys() []string {
	var keys []string
	for _, n := range k.names {
		keys = append(keys, n.callback)
	}
	return keys
}

func (k stateKeys) tombstoneKeys() []string {
	var keys []string
	for _, n := range k.names {
		keys = append(keys, n.tombstone)
	}
	return keys
}

func (k stateKeys) ownerKeys() []string {
	var keys []string
	for _, n := range k.names {
		keys = append(keys, n.owner)
	}
	return keys
}

func (k stateKeys) registrationKeys() []string {
	var keys []string
	for _, n := range k.names {
		keys = append(keys, n.registration)
	}
	return keys
}

// scriptKeys are the KEYS of the put and take scripts: the state's, then
// the accounting keys. Those live in their own slot, so on Redis Cluster
// the scripts leave them out, and Put and Take keep the accounts by
// separate scripts.
func (s *Store) scriptKeys(k stateKeys) []string {
	keys := k.stateKeys()
	if s.cluster {
		return keys
	}
	return append(keys, s.accounting...)
}

// accountingKeys are the pending set and the byte budget's keys, in the
// order accounting.lua expects (see the table there). Their hash tag keeps
// them in one Cluster slot, so one script can keep them together. New
// builds them once: every request passes them.
func accountingKeys(prefix string) []string {
	base := prefix + "{accounts}:"
	return []string{base + "pending", base + "sizes", base + "bytes", base + "bytes:unregistered",
		base + "bytes:registrations", base + "registrations", base + "bytes:apps"}
}

func (s *Store) accountingKeys() []string { return s.accounting }

func (s *Store) pendingKey() string { return s.accounting[0] }

func (s *Store) storedChannel() string { return s.channel }
