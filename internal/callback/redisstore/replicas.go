package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
)

// runReplicated runs script and, with MinReplicas, WAIT on the same
// connection (runAndWait): what the script wrote counts only once the
// replicas hold it. wrote is the reply's first element when the script
// made the step that must be replicated.
//   - A put: a callback is acknowledged to the person only once the
//     replicas hold it.
//   - A take: a code is handed out only once the replicas hold its
//     tombstone. Otherwise a take answered by a primary that a failover
//     then replaces is forgotten with that primary's last writes, and the
//     callback, replicated before it, is handed out a second time by the
//     new primary (the chaos run found it: docs/reliability.md). When the
//     replicas do not acknowledge it, the caller gets ErrNotReplicated and
//     not the code, which is gone either way.
//   - A cancel: confirmed only once the replicas hold its tombstone, or a
//     failover could forget it, and the sign-in's callback be stored and
//     taken after the MCP server gave it up.
func (s *Store) runReplicated(ctx context.Context, script *redis.Script, keys []string, args []any, wrote callback.Phase) ([]any, error) {
	if s.minReplicas > 0 {
		return s.runAndWait(ctx, script, keys, args, wrote)
	}
	return script.Run(ctx, s.client, keys, args...).Slice()
}

// runAndWait runs script and WAIT in a pipeline, on one connection: WAIT
// counts the replicas that acknowledged the writes of its own connection.
// For a reply other than wrote there is nothing to wait for.
func (s *Store) runAndWait(ctx context.Context, script *redis.Script, keys []string, args []any, wrote callback.Phase) ([]any, error) {
	run := func() (*redis.Cmd, *redis.Cmd, error) {
		pipe := s.client.Pipeline()
		cmd := pipe.EvalSha(ctx, script.Hash(), keys, args...)
		wait := pipe.Do(ctx, "WAIT", s.minReplicas, s.minReplicasTimeout.Milliseconds())
		_, err := pipe.Exec(ctx)
		return cmd, wait, err
	}
	cmd, wait, _ := run()
	if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Nothing ran: load the script and send the pair again.
		if err := script.Load(ctx, s.client).Err(); err != nil {
			return nil, err
		}
		cmd, wait, _ = run()
	}
	res, err := cmd.Slice()
	if err != nil {
		return nil, err
	}
	if len(res) == 0 || res[0] != string(wrote) {
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
