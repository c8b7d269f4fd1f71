package httpapi

import (
	"context"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// Every store call goes through these: bounded by the store timeout, so a
// Redis that hangs costs a request at most that long, and timed for the
// metrics.

// bounded returns ctx with the store timeout, when one is set. The call is
// not cancelled when the client leaves: a take stopped half-way may have
// handed the code out already, so it is better finished, and within
// the store timeout it always is. Detached, the timer also hangs nothing
// on the request's context, which a long-poll keeps for up to a minute.
func (s *server) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.opts.StoreTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), s.opts.StoreTimeout)
}

// storeCall runs one store operation: bounded by the store timeout, timed
// for the metrics and traced. Every method below goes through it.
func storeCall[T any](s *server, ctx context.Context, op string, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	defer s.timeStore(op, time.Now())
	ctx, end := s.startStoreSpan(ctx, op)
	v, err := f(ctx)
	end(err)
	return v, err
}

func (s *server) register(ctx context.Context, app callback.App, state string, reg callback.Registration) error {
	_, err := storeCall(s, ctx, "register", func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.store.Register(ctx, app, state, reg)
	})
	return err
}

// started is what Store.Start returns.
type started struct {
	state string
	link  callback.Link
	first bool
}

func (s *server) start(ctx context.Context, id string) (started, error) {
	return storeCall(s, ctx, "start", func(ctx context.Context) (started, error) {
		state, link, first, err := s.store.Start(ctx, id)
		return started{state, link, first}, err
	})
}

func (s *server) status(ctx context.Context, app callback.App, state string) (callback.Status, error) {
	return storeCall(s, ctx, "status", func(ctx context.Context) (callback.Status, error) {
		return s.store.Status(ctx, app, state)
	})
}

func (s *server) cancel(ctx context.Context, app callback.App, state string) error {
	_, err := storeCall(s, ctx, "cancel", func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.store.Cancel(ctx, app, state)
	})
	return err
}

func (s *server) put(ctx context.Context, c callback.Callback) (callback.Receipt, error) {
	return storeCall(s, ctx, "put", func(ctx context.Context) (callback.Receipt, error) {
		return s.store.Put(ctx, c)
	})
}

func (s *server) take(ctx context.Context, app callback.App, state string) (callback.Callback, error) {
	return storeCall(s, ctx, "take", func(ctx context.Context) (callback.Callback, error) {
		return s.store.Take(ctx, app, state)
	})
}

func (s *server) pending(ctx context.Context) (int64, error) {
	return storeCall(s, ctx, "pending", s.store.Pending)
}

func (s *server) ping(ctx context.Context) error {
	_, err := storeCall(s, ctx, "ping", func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.store.Ping(ctx)
	})
	return err
}

func (s *server) timeStore(op string, start time.Time) {
	s.metrics.StoreOperation(op, time.Since(start))
}
