package sqlstore

// TraceReads makes s call f with every read it runs, and its arguments,
// before running it (nil stops). Not safe to change while s is in use.
func (s *DB) TraceReads(f func(query string, args []any)) { s.trace = f }
