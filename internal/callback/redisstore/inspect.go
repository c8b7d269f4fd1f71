package redisstore

import (
	"context"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Facts are what `oauth-callback-server check` reports of the Redis the
// store runs on, from INFO (which managed Redis allows where it refuses
// CONFIG). On Cluster, INFO is one node's, and the cluster's state is
// CLUSTER INFO's.
type Facts struct {
	Version  string
	MaxBytes int64  // maxmemory; 0: no limit
	Policy   string // maxmemory-policy
	AOF      bool   // appendonly
	Role     string // master or slave
	Replicas int    // connected replicas of this node
	// Cluster only.
	ClusterState string // ok or fail
	ClusterNodes int
}

// Inspect reads the Facts; an error means Redis did not answer INFO.
func Inspect(ctx context.Context, client redis.UniversalClient) (Facts, error) {
	info, err := client.Info(ctx).Result() // the default sections: one request, and older Redis take one section at most
	if err != nil {
		return Facts{}, storeError("read INFO", err)
	}
	f := Facts{
		Version: infoField(info, "redis_version"),
		Policy:  infoField(info, "maxmemory_policy"),
		AOF:     infoField(info, "aof_enabled") == "1",
		Role:    infoField(info, "role"),
	}
	f.MaxBytes, _ = strconv.ParseInt(infoField(info, "maxmemory"), 10, 64)
	f.Replicas, _ = strconv.Atoi(infoField(info, "connected_slaves"))
	if cc, ok := client.(*redis.ClusterClient); ok {
		ci, err := cc.ClusterInfo(ctx).Result()
		if err != nil {
			return f, storeError("read CLUSTER INFO", err)
		}
		f.ClusterState = infoField(ci, "cluster_state")
		f.ClusterNodes, _ = strconv.Atoi(strings.TrimSpace(infoField(ci, "cluster_known_nodes")))
	}
	return f, nil
}

// TooOld reports whether version is below MinVersion, the oldest the store
// runs on.
func TooOld(version string) bool {
	ok, err := atLeast(version, MinVersion)
	return err != nil || !ok
}
