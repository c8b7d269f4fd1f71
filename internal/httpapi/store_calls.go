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
	ctx, end := s.startStoreSpan(ctx, "register")
	err := s.store.Register(ctx, state, reg)
	end(err)
	return err
}

func (s *server) start(ctx context.Context, id string) (string, callback.Link, bool, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	defer s.timeStore("start", time.Now())
	ctx, end := s.startStoreSpan(ctx, "start")
	state, link, first, err := s.store.Start(ctx, id)
	end(err)
	return state, link, first, err
}

func (s *server) status(ctx context.Context, state string) (callback.Status, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	defer s.timeStore("status", time.Now())
	ctx, end := s.startStoreSpan(ctx, "status")
	st, err := s.store.Status(ctx, state)
	end(err)
	return st, err
}

func (s *server) cancel(ctx context.Context, state string) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	defer s.timeStore("cancel", time.Now())
	ctx, end := s.startStoreSpan(ctx, "cancel")
	err := s.store.Cancel(ctx, state)
	end(err)
	return err
}

func (s *server) put(ctx context.Context, c callback.Callback) (callback.Receipt, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	defer s.timeStore("put", time.Now())
	ctx, end := s.startStoreSpan(ctx, "put")
	receipt, err := s.store.Put(ctx, c)
	end(err)
	return receipt, err
}

func (s *server) take(ctx context.Context, state string) (callback.Callback, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	defer s.timeStore("take", time.Now())
	ctx, end := s.startStoreSpan(ctx, "take")
	cb, err := s.store.Take(ctx, state)
	end(err)
	return cb, err
}

func (s *server) pending(ctx context.Context) (int64, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	defer s.timeStore("pending", time.Now())
	ctx, end := s.startStoreSpan(ctx, "pending")
	n, err := s.store.Pending(ctx)
	end(err)
	return n, err
}

func (s *server) ping(ctx context.Context) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	defer s.timeStore("ping", time.Now())
	ctx, end := s.startStoreSpan(ctx, "ping")
	err := s.store.Ping(ctx)
	end(err)
	return err
}

func (s *server) timeStore(op string, start time.Time) {
	s.metrics.StoreOperation(op, time.Since(start))
}
