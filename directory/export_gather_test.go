package directory

// GatherWaiting is how many ApplyClaim calls wait to be gathered, for
// the tests that hold a transaction and check what waits behind it.
func GatherWaiting(s *Service) int {
	s.gather.mu.Lock()
	defer s.gather.mu.Unlock()
	n := 0
	for _, q := range s.gather.queues {
		n += len(q.pending)
	}
	return n
}
