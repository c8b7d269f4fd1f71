// Package fake holds the test doubles of the service's interfaces, each a
// struct of function fields (benbjohnson/wtf's mock package): a test sets
// the methods it is about and leaves the rest to a real implementation.
package fake

import (
	"context"
	"fmt"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// Store is a callback.Store and callback.Notifier. A method whose Func is
// set calls it; otherwise it calls Fallback's, and with no Fallback it
// hangs until its context ends and then reports callback.ErrUnavailable,
// as the Redis store does when Redis stops answering.
type Store struct {
	Fallback callback.Store

	RegisterFunc  func(ctx context.Context, app callback.App, state string, r callback.Registration) error
	StartFunc     func(ctx context.Context, id string) (string, callback.Link, bool, error)
	PutFunc       func(ctx context.Context, c callback.Callback) (callback.Receipt, error)
	StatusFunc    func(ctx context.Context, app callback.App, state string) (callback.Status, error)
	CancelFunc    func(ctx context.Context, app callback.App, state string) error
	TakeFunc      func(ctx context.Context, app callback.App, state string) (callback.Callback, error)
	PendingFunc   func(ctx context.Context) (int64, error)
	PingFunc      func(ctx context.Context) error
	SubscribeFunc func(state string) (<-chan struct{}, func())
}

var (
	_ callback.Store    = (*Store)(nil)
	_ callback.Notifier = (*Store)(nil)
)

// Hang waits for ctx to end and returns the error of a store that stopped
// answering.
func Hang(ctx context.Context) error {
	<-ctx.Done()
	return fmt.Errorf("%w: %w", callback.ErrUnavailable, ctx.Err())
}

// Register implements callback.Store.
func (s *Store) Register(ctx context.Context, app callback.App, state string, r callback.Registration) error {
	switch {
	case s.RegisterFunc != nil:
		return s.RegisterFunc(ctx, app, state, r)
	case s.Fallback != nil:
		return s.Fallback.Register(ctx, app, state, r)
	}
	return Hang(ctx)
}

// Start implements callback.Store.
func (s *Store) Start(ctx context.Context, id string) (string, callback.Link, bool, error) {
	switch {
	case s.StartFunc != nil:
		return s.StartFunc(ctx, id)
	case s.Fallback != nil:
		return s.Fallback.Start(ctx, id)
	}
	return "", callback.Link{}, false, Hang(ctx)
}

// Put implements callback.Store.
func (s *Store) Put(ctx context.Context, c callback.Callback) (callback.Receipt, error) {
	switch {
	case s.PutFunc != nil:
		return s.PutFunc(ctx, c)
	case s.Fallback != nil:
		return s.Fallback.Put(ctx, c)
	}
	return callback.Receipt{}, Hang(ctx)
}

// Status implements callback.Store.
func (s *Store) Status(ctx context.Context, app callback.App, state string) (callback.Status, error) {
	switch {
	case s.StatusFunc != nil:
		return s.StatusFunc(ctx, app, state)
	case s.Fallback != nil:
		return s.Fallback.Status(ctx, app, state)
	}
	return callback.Status{}, Hang(ctx)
}

// Cancel implements callback.Store.
func (s *Store) Cancel(ctx context.Context, app callback.App, state string) error {
	switch {
	case s.CancelFunc != nil:
		return s.CancelFunc(ctx, app, state)
	case s.Fallback != nil:
		return s.Fallback.Cancel(ctx, app, state)
	}
	return Hang(ctx)
}

// Take implements callback.Store.
func (s *Store) Take(ctx context.Context, app callback.App, state string) (callback.Callback, error) {
	switch {
	case s.TakeFunc != nil:
		return s.TakeFunc(ctx, app, state)
	case s.Fallback != nil:
		return s.Fallback.Take(ctx, app, state)
	}
	return callback.Callback{}, Hang(ctx)
}

// Pending implements callback.Store.
func (s *Store) Pending(ctx context.Context) (int64, error) {
	switch {
	case s.PendingFunc != nil:
		return s.PendingFunc(ctx)
	case s.Fallback != nil:
		return s.Fallback.Pending(ctx)
	}
	return 0, Hang(ctx)
}

// Ping implements callback.Store.
func (s *Store) Ping(ctx context.Context) error {
	switch {
	case s.PingFunc != nil:
		return s.PingFunc(ctx)
	case s.Fallback != nil:
		return s.Fallback.Ping(ctx)
	}
	return Hang(ctx)
}

// Close implements callback.Store; it closes nothing, not even Fallback,
// which belongs to the test.
func (s *Store) Close() error { return nil }

// Subscribe implements callback.Notifier: SubscribeFunc, else Fallback's
// when it is a Notifier, else a channel that never fires (waiters then
// find callbacks by their periodic re-check only).
func (s *Store) Subscribe(state string) (<-chan struct{}, func()) {
	if s.SubscribeFunc != nil {
		return s.SubscribeFunc(state)
	}
	if n, ok := s.Fallback.(callback.Notifier); ok {
		return n.Subscribe(state)
	}
	return make(chan struct{}), func() {}
}
