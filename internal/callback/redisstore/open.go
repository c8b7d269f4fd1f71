package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/seal"
)

// Open is the one call that opens the Redis store: the client for the
// topology cfg selects, the version check (waiting up to startupWait while
// Redis cannot be reached, so that a service started together with its
// Redis does not crash-loop while Redis boots), the scripts, and the store.
// The topology decides whether the store runs in Cluster mode; log gets the waiting, and go-redis's
// own lines (RouteClientLogs).
func Open(ctx context.Context, cfg Config, store callback.StoreConfig, sealer *seal.Sealer, startupWait time.Duration, log *slog.Logger) (*Store, error) {
	RouteClientLogs(log, 10*time.Second)
	client, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	if err := waitForRedis(ctx, client, startupWait, log); err != nil {
		_ = client.Close()
		return nil, err
	}
	if err := LoadScripts(ctx, client); err != nil {
		log.Warn("could not preload the Redis scripts; they load on first use", slog.Any("error", err))
	}
	return New(client, store, Options{
		Prefix:             cfg.KeyPrefix,
		Sealer:             sealer,
		MinReplicas:        cfg.MinReplicas,
		MinReplicasTimeout: cfg.MinReplicasTimeout,
		Cluster:            cfg.Cluster(),
		Credentials:        cfg.Credentials,
	}), nil
}

// waitForRedis checks the server's version, retrying while Redis cannot be
// reached, for up to wait.
func waitForRedis(ctx context.Context, client redis.UniversalClient, wait time.Duration, log *slog.Logger) error {
	deadline := time.Now().Add(wait)
	for {
		err := CheckVersion(ctx, client)
		if err == nil || !errors.Is(err, callback.ErrUnavailable) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis not reachable after %v: %w", wait, err)
		}
		log.Warn("waiting for redis", slog.Any("error", err))
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis not reachable: %w", err)
		case <-time.After(time.Second):
		}
	}
}
