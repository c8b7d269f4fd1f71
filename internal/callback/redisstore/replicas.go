package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// putAndWait runs the put script and WAIT on one connection (a pipeline):
// WAIT counts the replicas that acknowledged the writes of its own
// connection.
func (s *Store) putAndWait(ctx context.Context, keys []string, args []any) ([]any, error) {
	run := func() (*redis.Cmd, *redis.Cmd, error) {
		pipe := s.client.Pipeline()
		put := pipe.EvalSha(ctx, putScript.Hash(), keys, args...)
		wait := pipe.Do(ctx, "WAIT", s.minReplicas, s.minReplicasTimeout.Milliseconds())
		_, err := pipe.Exec(ctx)
		return put, wait, err
	}
	put, wait, _ := run()
	if err := put.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Nothing ran: load the script and send the pair again.
		if err := putScript.Load(ctx, s.client).Err(); err != nil {
			return nil, err
		}
		put, wait, _ = run()
	}
	res, err := put.Slice()
	if err != nil {
		return nil, err
	}
	if len(res) == 0 || res[0] != int64(putStored) {
		return res, nil // nothing was written: nothing to wait for
	}
	acked, err := wait.Int64()
	if err != nil {
		return nil, err
	}
	if acked < int64(s.minReplicas) {
		return nil, fmt.Errorf("%w: %d of %d", callback.ErrNotReplicated, acked, s.minReplicas)
	}
	return res, nil
}
