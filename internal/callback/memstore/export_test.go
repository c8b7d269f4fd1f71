package memstore

// Bytes reports what the store counts against its byte budget: in all, and
// for unregistered states.
func (s *Store) Bytes() (all, unregistered int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes, s.bytesUnreg
}
