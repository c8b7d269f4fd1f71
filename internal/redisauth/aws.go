package redisauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
)

// The AWS services whose caches take IAM tokens, as
// OAUTH_CALLBACK_REDIS_AWS_SERVICE names them.
const (
	AWSElastiCache           = "elasticache"
	AWSElastiCacheServerless = "elasticache-serverless"
	AWSMemoryDB              = "memorydb"
)

// AWSTokenLifetime is how long ElastiCache and MemoryDB accept an IAM
// token: a connection must sign in within it (AUTH again renews a live
// one, which the services close after 12 hours otherwise).
const AWSTokenLifetime = 15 * time.Minute

// AWSConfig is what the AWS source needs beyond the pod's credentials.
type AWSConfig struct {
	// Service is AWSElastiCache (a replication group), AWSElastiCacheServerless
	// or AWSMemoryDB: what the token is signed for.
	Service string
	// CacheName is the replication group id, the serverless cache's name
	// or the MemoryDB cluster's name (the token's host), in lower case.
	CacheName string
	// Username is the cache's IAM-enabled user (on ElastiCache, its user
	// id is the same).
	Username string

	// Test hooks: a shorter lifetime than the services', and the HTTP
	// client the credentials are fetched with (a test's CA).
	TokenLifetime time.Duration
	HTTPClient    *http.Client
}

// AWS is the Source of AWS IAM tokens for ElastiCache and MemoryDB: a
// connect request for the cache's user, presigned (SigV4) with the pod's
// credentials, is the password.
type AWS struct {
	cfg    AWSConfig
	creds  aws.CredentialsProvider
	region string
	signer *v4.Signer
	who    string

	mu     sync.Mutex
	source string          // the SDK's name for where the last credentials came from
	last   aws.Credentials // the last credentials had, for when no new ones can be
}

// NewAWS reads the pod's credentials as the AWS SDK's standard chain finds
// them, once, from the environment (getenv names the kind for the log):
// on EKS, IRSA's AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE, or EKS Pod
// Identity's AWS_CONTAINER_CREDENTIALS_FULL_URI; AWS_REGION is the
// region. The SDK settles on one kind when it loads, so a failing kind is
// reported, not replaced by another identity.
func NewAWS(ctx context.Context, cfg AWSConfig, getenv func(string) string) (*AWS, error) {
	switch cfg.Service {
	case AWSElastiCache, AWSElastiCacheServerless, AWSMemoryDB:
	default:
		return nil, fmt.Errorf("unknown AWS service %q: want %s, %s or %s", cfg.Service, AWSElastiCache, AWSElastiCacheServerless, AWSMemoryDB)
	}
	if cfg.CacheName == "" || cfg.Username == "" {
		return nil, errors.New("IAM sign-in needs the cache's name (OAUTH_CALLBACK_REDIS_AWS_CACHE_NAME) and its IAM-enabled user (OAUTH_CALLBACK_REDIS_USERNAME)")
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = AWSTokenLifetime
	}
	var opts []func(*config.LoadOptions) error
	if cfg.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(cfg.HTTPClient))
	}
	ac, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load the AWS configuration: %w", err)
	}
	if ac.Region == "" {
		return nil, errors.New("no AWS region: set AWS_REGION to the cache's region")
	}
	if ac.Credentials == nil {
		return nil, errors.New("no AWS credentials found")
	}
	return &AWS{cfg: cfg, creds: ac.Credentials, region: ac.Region, signer: v4.NewSigner(), who: awsWho(getenv)}, nil
}

// awsWho names the kind of credentials the environment selects, in the
// order of the SDK's chain (config.resolveCredentialChain): static keys,
// then IRSA's web identity, then a profile of the shared files, then the
// container endpoints (ECS's, then EKS Pod Identity's), then the
// instance's role. It never shows a key id: the log is no place for one.
func awsWho(getenv func(string) string) string {
	switch {
	case getenv("AWS_ACCESS_KEY_ID") != "" && getenv("AWS_SECRET_ACCESS_KEY") != "":
		return "static keys from the environment"
	case getenv("AWS_WEB_IDENTITY_TOKEN_FILE") != "":
		return "IRSA web identity, role " + getenv("AWS_ROLE_ARN")
	case getenv("AWS_PROFILE") != "":
		return "profile " + getenv("AWS_PROFILE")
	case getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != "":
		return "ECS task role"
	case getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI") != "":
		return "EKS Pod Identity"
	}
	return "the instance profile"
}

// Identity implements Source.
func (a *AWS) Identity() Identity {
	a.mu.Lock()
	defer a.mu.Unlock()
	who := a.who
	if a.source != "" {
		who += " (" + a.source + ")"
	}
	return Identity{Cloud: "AWS IAM", Who: fmt.Sprintf("%s, user %s on %s %s in %s", who, a.cfg.Username, a.cfg.Service, a.cfg.CacheName, a.region),
		Node: a.source == awsInstanceRoleSource}
}

// awsInstanceRoleSource is the Source the SDK gives credentials from the
// instance metadata service (ec2rolecreds.ProviderName): the node's role.
const awsInstanceRoleSource = "EC2RoleProvider"

// emptyPayload is the SHA-256 of the connect request's empty body.
var emptyPayload = func() string { h := sha256.Sum256(nil); return hex.EncodeToString(h[:]) }()

// Token implements Source: the connect request, presigned now, lives
// TokenLifetime or until the credentials it is signed with expire.
func (a *AWS) Token(ctx context.Context) (Token, error) {
	creds, err := a.credentials(ctx)
	if err != nil {
		return Token{}, fmt.Errorf("get AWS credentials: %w", err)
	}
	// The service counts the lifetime, in whole seconds, from X-Amz-Date,
	// which has no fraction.
	now := time.Now().UTC().Truncate(time.Second)
	password, err := PresignConnect(ctx, a.signer, creds, a.cfg, a.region, now)
	if err != nil {
		return Token{}, err
	}
	expires := now.Add(a.cfg.TokenLifetime.Truncate(time.Second))
	if creds.CanExpire && creds.Expires.Before(expires) {
		expires = creds.Expires
	}
	return Token{Username: a.cfg.Username, Password: password, ExpiresOn: expires}, nil
}

// credentials are the pod's, new ones when those at hand would not last a
// whole token: a token signed with credentials is no good past their
// expiry. When new ones cannot be had, the old ones sign tokens for as
// long as they last, so that an STS outage shorter than that costs
// nothing; past it, the error is the Provider's to report.
func (a *AWS) credentials(ctx context.Context) (aws.Credentials, error) {
	creds, err := a.creds.Retrieve(ctx)
	if err == nil && creds.CanExpire && time.Until(creds.Expires) < a.cfg.TokenLifetime {
		if cache, ok := a.creds.(interface{ Invalidate() }); ok {
			cache.Invalidate()
			creds, err = a.creds.Retrieve(ctx)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		if a.last.HasKeys() && (!a.last.CanExpire || time.Now().Before(a.last.Expires)) {
			return a.last, nil
		}
		return aws.Credentials{}, err
	}
	a.last, a.source = creds, creds.Source
	return creds, nil
}

// PresignConnect is the IAM token AWS documents for ElastiCache and
// MemoryDB: GET http://CACHE/?Action=connect&User=USER (with
// ResourceType=ServerlessCache for a serverless cache), presigned for the
// service ("elasticache" or "memorydb") in region at signingTime, without
// its scheme. Exported for the known-answer test, which checks it against
// AWS's documented algorithm computed without the SDK.
func PresignConnect(ctx context.Context, signer *v4.Signer, creds aws.Credentials, cfg AWSConfig, region string, signingTime time.Time) (string, error) {
	lifetime := cfg.TokenLifetime
	if lifetime <= 0 {
		lifetime = AWSTokenLifetime
	}
	q := url.Values{"Action": {"connect"}, "User": {cfg.Username}}
	service := "elasticache"
	switch cfg.Service {
	case AWSElastiCacheServerless:
		q.Set("ResourceType", "ServerlessCache")
	case AWSMemoryDB:
		service = "memorydb"
	}
	q.Set("X-Amz-Expires", strconv.Itoa(int(lifetime/time.Second)))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+cfg.CacheName+"/", nil)
	if err != nil {
		return "", fmt.Errorf("the AWS cache name %q: %w", cfg.CacheName, err)
	}
	req.URL.RawQuery = q.Encode()
	signed, _, err := signer.PresignHTTP(ctx, creds, req, emptyPayload, service, region, signingTime)
	if err != nil {
		return "", fmt.Errorf("sign the %s connect request: %w", service, err)
	}
	return strings.TrimPrefix(signed, "http://"), nil
}

var _ Source = (*AWS)(nil)
