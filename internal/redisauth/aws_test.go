package redisauth_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/redisstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/redisauth"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/authtest"
)

// awsEnv sets the process environment as EKS sets a pod's up, and
// nothing else the AWS SDK would read (a developer's ~/.aws, their keys,
// this machine's instance metadata). The SDK reads the environment
// itself, so these tests do not run in parallel with each other.
func awsEnv(t *testing.T, vars map[string]string) {
	t.Helper()
	dir := t.TempDir()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for k, v := range vars {
		t.Setenv(k, v)
	}
}

// irsa is the environment IRSA's webhook gives a pod, with STS moved to
// the stand-in.
func irsa(t *testing.T, sts *authtest.STS) {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(authtest.WebIdentityJWT), 0o600); err != nil {
		t.Fatal(err)
	}
	awsEnv(t, map[string]string{
		"AWS_ROLE_ARN": authtest.AWSRoleARN, "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile,
		"AWS_REGION": authtest.AWSRegion, "AWS_ENDPOINT_URL_STS": sts.HTTPS.URL,
	})
}

func newAWS(t *testing.T, cfg redisauth.AWSConfig) *redisauth.AWS {
	t.Helper()
	src, err := redisauth.NewAWS(context.Background(), cfg, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestAWS runs the shared suite with ElastiCache's IAM tokens, signed
// with IRSA's credentials from a local STS; the cache checks each token's
// signature and expiry itself.
func TestAWS(t *testing.T) {
	runSuite(t, func(t *testing.T) cloud {
		// Credentials that last as long as a token, so that every token
		// is signed with new ones, and a refusal of STS soon leaves none.
		sts := authtest.StartSTS(t, tokenLifetime)
		irsa(t, sts)
		cfg := redisauth.AWSConfig{Service: redisauth.AWSElastiCache, CacheName: "oauth-cache", Username: "oauth-iam",
			TokenLifetime: tokenLifetime, HTTPClient: sts.HTTPS.Client()}
		return cloud{
			article: "an AWS IAM", auth: redisstore.AuthAWS, user: cfg.Username,
			source:     func(t *testing.T) redisauth.Source { return newAWS(t, cfg) },
			verify:     func(_, password string) (time.Time, error) { return sts.VerifyConnect(cfg, password) },
			setFailure: sts.SetFailure, refusals: sts.Refusals,
			refusal: "the role's trust policy no longer names system:serviceaccount:oauth:oauth-callback-server", who: authtest.AWSRoleARN,
		}
	})
}

// TestAWSTokenIsWhatEachServiceChecks: the token is the connect request
// AWS documents for each service (ElastiCache, ElastiCache Serverless with
// its ResourceType, MemoryDB signed for "memorydb"), for 15 minutes at
// most and never past the credentials; one cache's token is no good for
// another, nor for another user.
func TestAWSTokenIsWhatEachServiceChecks(t *testing.T) {
	sts := authtest.StartSTS(t, time.Hour)
	irsa(t, sts)
	for _, service := range []string{redisauth.AWSElastiCache, redisauth.AWSElastiCacheServerless, redisauth.AWSMemoryDB} {
		cfg := redisauth.AWSConfig{Service: service, CacheName: "oauth-cache", Username: "oauth-iam", HTTPClient: sts.HTTPS.Client()}
		tok, err := newAWS(t, cfg).Token(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", service, err)
		}
		if tok.Username != "oauth-iam" || strings.HasPrefix(tok.Password, "http") {
			t.Errorf("%s: user %q, token %q: want the user, and the presigned URL without its scheme", service, tok.Username, tok.Password)
		}
		expires, err := sts.VerifyConnect(cfg, tok.Password)
		if err != nil {
			t.Fatalf("%s: the service would refuse %s: %v", service, tok.Password, err)
		}
		u, _ := url.Parse("http://" + tok.Password)
		signed, _ := time.Parse("20060102T150405Z", u.Query().Get("X-Amz-Date"))
		if lifetime := expires.Sub(signed); lifetime != redisauth.AWSTokenLifetime {
			t.Errorf("%s: the service accepts it for %v, want 15 minutes", service, lifetime)
		}
		if !tok.ExpiresOn.Equal(expires) {
			t.Errorf("%s: the provider thinks it expires at %v, the service at %v", service, tok.ExpiresOn, expires)
		}
		for _, other := range []redisauth.AWSConfig{
			{Service: service, CacheName: "other-cache", Username: "oauth-iam"},
			{Service: service, CacheName: "oauth-cache", Username: "admin"},
		} {
			if _, err := sts.VerifyConnect(other, tok.Password); err == nil {
				t.Errorf("%s: a token for %s/%s is accepted for %s/%s", service, cfg.CacheName, cfg.Username, other.CacheName, other.Username)
			}
		}
	}
	// Credentials about to expire bound the token.
	short := authtest.StartSTS(t, 90*time.Second)
	irsa(t, short)
	cfg := redisauth.AWSConfig{Service: redisauth.AWSElastiCache, CacheName: "oauth-cache", Username: "oauth-iam", HTTPClient: short.HTTPS.Client()}
	tok, err := newAWS(t, cfg).Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(tok.ExpiresOn); left > 90*time.Second {
		t.Errorf("the token is taken to live %v, past its credentials' 90 s", left)
	}
	u, _ := url.Parse("http://" + tok.Password)
	if u.Query().Get("X-Amz-Expires") != "900" {
		t.Errorf("X-Amz-Expires %q, want 900", u.Query().Get("X-Amz-Expires"))
	}
}

// TestAWSTokenKnownAnswer: with fixed credentials (AWS's documentation
// example keys), time, cache and user, the token is exactly the connect
// request presigned by SigV4 as AWS documents it, computed here without
// the SDK's signer (authtest.SigV4QuerySignature): a token checked only by
// signing it again with the same code could be wrong in the same way
// twice (an UNSIGNED-PAYLOAD hash, a wrong service name) and still pass.
func TestAWSTokenKnownAnswer(t *testing.T) {
	const (
		accessKey = "AKIDEXAMPLE"
		secret    = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
		region    = "us-east-1"
	)
	creds := aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secret}
	signed := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	for _, tt := range []struct {
		service, signingName, resourceType string
	}{
		{redisauth.AWSElastiCache, "elasticache", ""},
		{redisauth.AWSElastiCacheServerless, "elasticache", "ServerlessCache"},
		{redisauth.AWSMemoryDB, "memorydb", ""},
	} {
		cfg := redisauth.AWSConfig{Service: tt.service, CacheName: "oauth-cache", Username: "oauth-iam"}
		got, err := redisauth.PresignConnect(context.Background(), v4.NewSigner(), creds, cfg, region, signed)
		if err != nil {
			t.Fatalf("%s: %v", tt.service, err)
		}
		q := url.Values{
			"Action":              {"connect"},
			"User":                {"oauth-iam"},
			"X-Amz-Algorithm":     {"AWS4-HMAC-SHA256"},
			"X-Amz-Credential":    {accessKey + "/20150830/" + region + "/" + tt.signingName + "/aws4_request"},
			"X-Amz-Date":          {"20150830T123600Z"},
			"X-Amz-Expires":       {"900"},
			"X-Amz-SignedHeaders": {"host"},
		}
		if tt.resourceType != "" {
			q.Set("ResourceType", tt.resourceType)
		}
		// The signature comes last, after the query it signs.
		signature := authtest.SigV4QuerySignature(secret, "oauth-cache", q, region, tt.signingName, signed)
		if want := "oauth-cache/?" + q.Encode() + "&X-Amz-Signature=" + signature; got != want {
			t.Errorf("%s:\n got %s\nwant %s", tt.service, got, want)
		}
	}
}

// TestAWSPodIdentity: EKS Pod Identity's agent (a loopback URL and a token
// file) gives the credentials instead of IRSA; the identity says which.
func TestAWSPodIdentity(t *testing.T) {
	sts := authtest.StartSTS(t, time.Hour)
	tokenFile := filepath.Join(t.TempDir(), "eks-pod-identity-token")
	if err := os.WriteFile(tokenFile, []byte(authtest.PodIdentityJWT), 0o600); err != nil {
		t.Fatal(err)
	}
	awsEnv(t, map[string]string{
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     sts.PodIdentity.URL + authtest.PodIdentityPath,
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile, "AWS_REGION": authtest.AWSRegion,
	})
	cfg := redisauth.AWSConfig{Service: redisauth.AWSMemoryDB, CacheName: "oauth-db", Username: "oauth-iam"}
	src := newAWS(t, cfg)
	tok, err := src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sts.VerifyConnect(cfg, tok.Password); err != nil {
		t.Errorf("MemoryDB would refuse the token: %v", err)
	}
	if id := src.Identity(); !strings.Contains(id.Who, "EKS Pod Identity") || !strings.Contains(id.Who, "memorydb oauth-db") {
		t.Errorf("identity %q, want EKS Pod Identity on memorydb oauth-db", id.Who)
	}
}

// TestNewAWSSaysWhatIsMissing: a missing cache name, user or region, or
// an unknown service, stops start-up with the setting to fix.
func TestNewAWSSaysWhatIsMissing(t *testing.T) {
	sts := authtest.StartSTS(t, time.Hour)
	irsa(t, sts)
	good := redisauth.AWSConfig{Service: redisauth.AWSElastiCache, CacheName: "c", Username: "u"}
	for _, c := range []struct {
		name string
		edit func(*redisauth.AWSConfig)
		want string
	}{
		{"no cache name", func(c *redisauth.AWSConfig) { c.CacheName = "" }, "OAUTH_CALLBACK_REDIS_AWS_CACHE_NAME"},
		{"no user", func(c *redisauth.AWSConfig) { c.Username = "" }, "OAUTH_CALLBACK_REDIS_USERNAME"},
		{"unknown service", func(c *redisauth.AWSConfig) { c.Service = "dynamodb" }, "elasticache-serverless"},
	} {
		cfg := good
		c.edit(&cfg)
		if _, err := redisauth.NewAWS(context.Background(), cfg, os.Getenv); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", c.name, err, c.want)
		}
	}
	t.Setenv("AWS_REGION", "")
	if _, err := redisauth.NewAWS(context.Background(), good, os.Getenv); err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Errorf("no region: %v, want an error naming AWS_REGION", err)
	}
}
