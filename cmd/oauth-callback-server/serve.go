package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/config"
	"github.com/oauth-callback-server/oauth-callback-server/internal/httpapi"
	"github.com/oauth-callback-server/oauth-callback-server/internal/memlimit"
	"github.com/oauth-callback-server/oauth-callback-server/internal/metrics"
	"github.com/oauth-callback-server/oauth-callback-server/internal/tracing"
)

// service is one running oauth-callback-server: its store, its listeners
// and its HTTP servers. open binds the listeners before anything is
// served, so that a caller (a test on port 0) knows where it listens
// without reading the log; serve runs it until its context ends.
type service struct {
	cfg      config.Config
	log      *slog.Logger
	store    callback.Store
	memory   *memlimit.Guard
	draining chan struct{}

	srv        *http.Server
	ln         net.Listener
	metricsSrv *http.Server // nil without OAUTH_CALLBACK_METRICS_ADDR
	metricsLn  net.Listener

	traceShutdown func(context.Context) error // flushes buffered spans
}

// open opens the store and binds the listeners. It serves on ln instead of
// OAUTH_CALLBACK_HOST:PORT when ln is not nil: a socket handed over by a
// supervisor (systemd socket activation, a test holding the port). getenv
// is run's, for the OTEL_* variables. On error it closes what it opened,
// ln included.
func open(ctx context.Context, cfg config.Config, getenv func(string) string, stdout io.Writer, ln net.Listener) (_ *service, err error) {
	s := &service{cfg: cfg, log: newLogger(cfg, stdout), draining: make(chan struct{}), ln: ln}
	warnAboutOpenSettings(cfg, s.log)
	if s.store, err = openStore(ctx, cfg, getenv, s.log); err != nil {
		if ln != nil {
			_ = ln.Close()
		}
		return nil, err
	}
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()
	s.memory = memlimit.Start(cfg.MemoryLimit, cfg.GOMEMLIMIT, 250*time.Millisecond)
	if s.memory != nil {
		s.log.Info("memory limit", slog.Int64("runtime_limit_bytes", s.memory.Limit()), slog.Int64("container_limit_bytes", cfg.MemoryLimit))
	}

	if s.ln == nil {
		if s.ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Listen.Addr()); err != nil {
			return nil, fmt.Errorf("listen: %w", bindError("OAUTH_CALLBACK_HOST/PORT", cfg.Listen.Addr(), whoHolds(ctx, cfg.Listen.Addr(), err), err))
		}
	} else {
		s.log.Info("serving on the socket handed over (LISTEN_FDS); OAUTH_CALLBACK_HOST and OAUTH_CALLBACK_PORT are not used",
			slog.String("addr", s.ln.Addr().String()))
	}
	// OpenTelemetry, when the standard OTEL_* variables ask for it.
	tp, traceShutdown, err := tracing.Start(ctx, getenv, version)
	if err != nil {
		return nil, err
	}
	s.traceShutdown = traceShutdown
	if tp != nil {
		s.log.Info("tracing on: spans go to the OTLP endpoint of OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	m := metrics.New(httpapi.CallbackOutcomes()...)
	s.srv = &http.Server{
		Handler: httpapi.NewServer(s.store, s.log, m, httpapi.Options{
			Config:          cfg.HTTP,
			StoreTTL:        cfg.Store.TTL,
			StoreTimeout:    storeTimeout(cfg),
			Draining:        s.draining,
			ServeMetrics:    cfg.Listen.MetricsAddr == "",
			StateHasher:     callback.NewStateHasher(firstKey(cfg.EncryptionKeys)),
			BindingSecrets:  keyBytes(cfg.EncryptionKeys),
			MemoryNearLimit: s.memory.Near,
			TracerProvider:  tp,
			Pages:           cfg.PageRenderer,
		}),
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if cfg.Listen.MetricsAddr != "" {
		if s.metricsLn, err = (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Listen.MetricsAddr); err != nil {
			return nil, fmt.Errorf("listen for metrics: %w", bindError("OAUTH_CALLBACK_METRICS_ADDR", cfg.Listen.MetricsAddr, whoHolds(ctx, cfg.Listen.MetricsAddr, err), err))
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		s.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout, IdleTimeout: cfg.HTTP.IdleTimeout}
	}
	return s, nil
}

// URL is where the service listens, e.g. http://127.0.0.1:8000.
func (s *service) URL() string { return "http://" + s.ln.Addr().String() }

// serve serves until ctx is cancelled, then stops being ready, answers the
// long-poll waiters, gives load balancers DrainDelay to notice and lets
// in-flight requests finish. Whatever way it returns, both servers are
// closed and the store is closed last.
func (s *service) serve(ctx context.Context) error {
	defer s.closeAll()
	serveErr := make(chan error, 2)
	go func() { serveErr <- s.srv.Serve(s.ln) }()
	s.log.Info("listening", slog.String("addr", s.ln.Addr().String()), slog.String("store", s.cfg.StoreName()), slog.String("version", version))
	if s.metricsSrv != nil {
		go func() { serveErr <- s.metricsSrv.Serve(s.metricsLn) }()
		s.log.Info("metrics listening", slog.String("addr", s.metricsLn.Addr().String()))
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	close(s.draining)
	s.log.Info("shutting down", slog.Int64("drain_delay_ms", s.cfg.Shutdown.DrainDelay.Milliseconds()), slog.Int64("shutdown_timeout_ms", s.cfg.Shutdown.Timeout.Milliseconds()))
	select {
	case <-time.After(s.cfg.Shutdown.DrainDelay):
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.Shutdown.Timeout)
	defer cancel()
	if err := s.srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	servers := 1
	if s.metricsSrv != nil {
		servers = 2
		if err := s.metricsSrv.Shutdown(shutdownCtx); err != nil {
			return fmt.Errorf("shutdown metrics: %w", err)
		}
	}
	for range servers {
		if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	}
	s.log.Info("stopped")
	return nil
}

// closeAll closes the servers and listeners (a no-op after a clean
// shutdown), stops the memory guard, and closes the store last, after every
// request that might use it is done.
func (s *service) closeAll() {
	for _, srv := range []*http.Server{s.srv, s.metricsSrv} {
		if srv != nil {
			_ = srv.Close()
		}
	}
	for _, ln := range []net.Listener{s.ln, s.metricsLn} {
		if ln != nil {
			_ = ln.Close()
		}
	}
	s.memory.Stop()
	if s.traceShutdown != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.traceShutdown(ctx); err != nil {
			s.log.Warn("flushing the last spans", slog.Any("error", err))
		}
		cancel()
	}
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			s.log.Warn("closing the store", slog.Any("error", err))
		}
	}
}
