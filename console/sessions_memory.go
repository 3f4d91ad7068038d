package console

import (
	"context"
	"sync"
	"time"

	"github.com/rosterd/rosterd/store"
)

// MemorySessions keeps console sessions in the process's memory: for a
// console without a store (tests, an embedding). A restart signs everyone
// out and replicas do not share it; rosterd serve keeps them in the store.
type MemorySessions struct {
	mu     sync.Mutex
	byHash map[string]store.ConsoleSession
}

var _ store.ConsoleSessions = (*MemorySessions)(nil)

// NewMemorySessions makes an empty table.
func NewMemorySessions() *MemorySessions {
	return &MemorySessions{byHash: map[string]store.ConsoleSession{}}
}

// CreateConsoleSession implements store.ConsoleSessions.
func (m *MemorySessions) CreateConsoleSession(_ context.Context, s store.ConsoleSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byHash[s.Hash]; ok {
		return store.ErrAlreadyExists
	}
	s.Version = 1
	m.byHash[s.Hash] = s
	return nil
}

// GetConsoleSession implements store.ConsoleSessions.
func (m *MemorySessions) GetConsoleSession(_ context.Context, hash string) (store.ConsoleSession, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.byHash[hash]
	if !ok {
		return s, store.ErrNotFound
	}
	return s, nil
}

// ConsoleSessionByNonce implements store.ConsoleSessions.
func (m *MemorySessions) ConsoleSessionByNonce(_ context.Context, nonce string) (store.ConsoleSession, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.byHash {
		if nonce != "" && s.Nonce == nonce {
			return s, nil
		}
	}
	return store.ConsoleSession{}, store.ErrNotFound
}

// UpdateConsoleSession implements store.ConsoleSessions.
func (m *MemorySessions) UpdateConsoleSession(_ context.Context, s store.ConsoleSession) (store.ConsoleSession, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.byHash[s.Hash]
	switch {
	case !ok:
		return s, store.ErrNotFound
	case old.Version != s.Version:
		return s, store.ErrConflict
	}
	s.Version++
	s.CreatedAt = old.CreatedAt
	m.byHash[s.Hash] = s
	return s, nil
}

// DeleteConsoleSession implements store.ConsoleSessions.
func (m *MemorySessions) DeleteConsoleSession(_ context.Context, hash string) error {
	m.mu.Lock()
	delete(m.byHash, hash)
	m.mu.Unlock()
	return nil
}

// PruneConsoleSessions implements store.ConsoleSessions.
func (m *MemorySessions) PruneConsoleSessions(_ context.Context, idleBefore, createdBefore time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for h, s := range m.byHash {
		if s.SeenAt.Before(idleBefore) || s.CreatedAt.Before(createdBefore) {
			delete(m.byHash, h)
			n++
		}
	}
	return n, nil
}
