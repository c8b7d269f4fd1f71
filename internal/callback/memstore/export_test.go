package memstore

// Bytes reports what the store counts against its byte budget: in all, and
// for unregistered states.
func (s *Store) Bytes() (all, unregistered int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes, s.bytesUnreg
}

// Len reports how many entries the store holds, expired ones not yet swept
// included.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}
