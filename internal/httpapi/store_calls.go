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
// deleted the code already (GETDEL), so it is better finished, and within
// the store timeout it always is. Detached, the timer also hangs nothing
// on the request's context, which a long-poll keeps for up to a minute.
func (s *server) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.storeTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), s.storeTimeout)
}

func (s *server) register(ctx context.Context, state string, reg callback.Registration) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	defer s.timeStore("register", time.Now())
	return s.store.Register(ctx, state, reg)
}

func (s *server) start(ctx context.Context, id string) (string, callback.Link, bool, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	defer s.timeStore("start", time.Now())
	return s.store.Start(ctx, id)
}

func (s *server) status(ctx context.Context, state string) (callback.Status, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	defer s.timeStore("status", time.Now())
	return s.store.Status(ctx, state)
}

func (s *server) cancel(ctx context.Context, state string) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	defer s.timeStore("cancel", time.Now())
	return s.store.Cancel(ctx, state)
}

func (s *server) put(ctx context.Context, c callback.Callback) (callback.Receipt, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	defer s.timeStore("put", time.Now())
	return s.store.Put(ctx, c)
}

func (s *server) take(ctx context.Context, state string) (callback.Callback, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	defer s.timeStore("take", time.Now())
	return s.store.Take(ctx, state)
}

func (s *server) pending(ctx context.Context) (int64, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	defer s.timeStore("pending", time.Now())
	return s.store.Pending(ctx)
}

func (s *server) ping(ctx context.Context) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	defer s.timeStore("ping", time.Now())
	return s.store.Ping(ctx)
}

func (s *server) timeStore(op string, start time.Time) {
	s.metrics.StoreOperation(op, time.Since(start))
}
