package postgres

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Listen receives the notifications of a channel (store.RegistryChannel)
// on a connection of its own, outside the pool, until ctx ends. The
// returned channel gets a value whenever a notification arrives, and after
// each reconnect (notifications may have been missed meanwhile); values
// are not queued, several notifications may make one. A lost connection
// is made again after a pause; the caller polls as well, so a notification
// never is the only way to learn of a change.
func (s *Store) Listen(ctx context.Context, channel string, logger *slog.Logger) <-chan struct{} {
	wake := make(chan struct{}, 1)
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	go func() {
		pause := 100 * time.Millisecond
		for ctx.Err() == nil {
			err := s.listenOnce(ctx, channel, signal)
			if ctx.Err() != nil {
				return
			}
			logger.Warn("listening for registry changes; polling until the connection is back", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
			pause = min(2*pause, 10*time.Second)
		}
	}()
	return wake
}

func (s *Store) listenOnce(ctx context.Context, channel string, signal func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.connConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	signal() // what changed while no one listened
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		signal()
	}
}
