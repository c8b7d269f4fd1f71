package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/redisstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/redisauth"
)

// signInToRedis gives r the credentials provider of the cloud identity
// OAUTH_CALLBACK_REDIS_AUTH names (entra, aws, gcp), from that cloud's
// standard variables in getenv; aws is what its tokens are signed for.
// With passwords it does nothing.
func signInToRedis(ctx context.Context, r *redisstore.Config, aws redisauth.AWSConfig, getenv func(string) string, log *slog.Logger) error {
	var (
		src redisauth.Source
		err error
	)
	switch r.Auth {
	case redisstore.AuthEntra:
		cred, identity, cerr := redisauth.NewEntraCredential(getenv)
		if cerr != nil {
			err = cerr
			break
		}
		src = redisauth.NewEntra(cred, identity, r.Username)
	case redisstore.AuthAWS:
		aws.Username = r.Username
		src, err = redisauth.NewAWS(ctx, aws, getenv)
	case redisstore.AuthGCP:
		src, err = redisauth.NewGCP(getenv, r.Username, nil)
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("OAUTH_CALLBACK_REDIS_AUTH=%s: %w", r.Auth, err)
	}
	r.Credentials = redisauth.NewProvider(src, redisauth.Options{Timeout: r.Timeout, Log: log})
	id := src.Identity()
	log.Info("signing in to Redis with "+id.Cloud, slog.String("identity", id.String()))
	return nil
}

// checkRedisIdentity says, for a store signed in with a cloud identity,
// who signed in and as which Redis user (ACL WHOAMI): the line to compare
// with the cache's access policy.
func checkRedisIdentity(ctx context.Context, r redisstore.Config, client redis.UniversalClient) []finding {
	p, ok := r.Credentials.(*redisauth.Provider)
	if !ok {
		return nil
	}
	user, err := client.Do(ctx, "ACL", "WHOAMI").Text()
	if err != nil {
		user = "(ACL WHOAMI failed: " + err.Error() + ")"
	}
	id := p.Identity()
	return append([]finding{{"store", statusOK, fmt.Sprintf("signed in to Redis with %s as %s: Redis user %s", id.Cloud, id, user)}}, nodeIdentity(id)...)
}

// nodeIdentity warns when the pod signs in as its node: any pod on the
// node could then sign in to this Redis too.
func nodeIdentity(id redisauth.Identity) []finding {
	if !id.Node {
		return nil
	}
	return []finding{{"store", statusWarn, fmt.Sprintf("signed in to Redis as %s: this is the node's identity, not the pod's, and every pod on the node can use it; give the pod its own (IRSA or EKS Pod Identity on AWS, GKE workload identity on Google Cloud)", id)}}
}
