package authtest

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/oauth-callback-server/oauth-callback-server/internal/redisauth"
)

// AWS account, role and web identity the stand-ins know.
const (
	AWSAccount     = "123456789012"
	AWSRoleARN     = "arn:aws:iam::" + AWSAccount + ":role/oauth-callback-server"
	AWSRegion      = "eu-west-1"
	WebIdentityJWT = "eyJhbGciOiJSUzI1NiJ9.eks-service-account-token.sig"
	PodIdentityJWT = "eks-pod-identity-agent-token"
)

// STS plays AWS STS's AssumeRoleWithWebIdentity (IRSA) on HTTPS and the EKS
// Pod Identity agent on plain HTTP (loopback, as the agent's 169.254.170.23
// is), both handing out temporary credentials of Lifetime, and checks
// the IAM tokens signed with them as ElastiCache or MemoryDB would.
type STS struct {
	HTTPS       *httptest.Server // STS: AWS_ENDPOINT_URL_STS
	PodIdentity *httptest.Server // AWS_CONTAINER_CREDENTIALS_FULL_URI is its URL + PodIdentityPath
	Lifetime    time.Duration

	mu      sync.Mutex
	fail    string
	issued  int
	refused int
	keys    map[string]aws.Credentials // by access key id
}

// PodIdentityPath is where the Pod Identity stand-in answers.
const PodIdentityPath = "/v1/credentials"

// StartSTS starts both stand-ins; they stop when the test ends.
func StartSTS(t testing.TB, lifetime time.Duration) *STS {
	t.Helper()
	s := &STS{Lifetime: lifetime, keys: map[string]aws.Credentials{}}
	s.HTTPS = httptest.NewTLSServer(http.HandlerFunc(s.assumeRole))
	t.Cleanup(s.HTTPS.Close)
	s.PodIdentity = httptest.NewServer(http.HandlerFunc(s.podIdentity))
	t.Cleanup(s.PodIdentity.Close)
	return s
}

// SetFailure makes both refuse with msg in the error ("" to stop).
func (s *STS) SetFailure(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = msg
}

// Refusals is how many requests were refused.
func (s *STS) Refusals() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// Issued is how many credentials were handed out.
func (s *STS) Issued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// issue makes new temporary credentials, or says why not.
func (s *STS) issue() (aws.Credentials, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != "" {
		s.refused++
		return aws.Credentials{}, s.fail
	}
	s.issued++
	c := aws.Credentials{
		AccessKeyID: "ASIA" + strings.ToUpper(randomHex(8)), SecretAccessKey: randomHex(20), SessionToken: "session-" + randomHex(16),
		CanExpire: true, Expires: time.Now().Add(s.Lifetime).UTC().Truncate(time.Millisecond),
	}
	s.keys[c.AccessKeyID] = c
	return c, ""
}

func (s *STS) assumeRole(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		stsError(w, http.StatusBadRequest, "InvalidParameterValue", err.Error())
		return
	}
	switch {
	case r.Form.Get("Action") != "AssumeRoleWithWebIdentity":
		stsError(w, http.StatusBadRequest, "InvalidAction", "not AssumeRoleWithWebIdentity: "+r.Form.Get("Action"))
		return
	case r.Form.Get("RoleArn") != AWSRoleARN:
		stsError(w, http.StatusForbidden, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity on "+r.Form.Get("RoleArn"))
		return
	case r.Form.Get("WebIdentityToken") != WebIdentityJWT:
		stsError(w, http.StatusBadRequest, "InvalidIdentityToken", "the web identity token is not the service account's")
		return
	}
	c, refusal := s.issue()
	if refusal != "" {
		stsError(w, http.StatusForbidden, "AccessDenied", refusal)
		return
	}
	session := r.Form.Get("RoleSessionName")
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <AccessKeyId>%s</AccessKeyId>
      <SecretAccessKey>%s</SecretAccessKey>
      <SessionToken>%s</SessionToken>
      <Expiration>%s</Expiration>
    </Credentials>
    <SubjectFromWebIdentityToken>system:serviceaccount:oauth:oauth-callback-server</SubjectFromWebIdentityToken>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::%s:assumed-role/oauth-callback-server/%s</Arn>
      <AssumedRoleId>AROAEXAMPLE:%s</AssumedRoleId>
    </AssumedRoleUser>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>`, c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.Expires.Format("2006-01-02T15:04:05.000Z"),
		AWSAccount, xmlEscape(session), xmlEscape(session), randomHex(8))
}

func (s *STS) podIdentity(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != PodIdentityPath || r.Header.Get("Authorization") != PodIdentityJWT {
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"code": "AccessDeniedException", "message": "not the pod's service account token"})
		return
	}
	c, refusal := s.issue()
	if refusal != "" {
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(map[string]string{"code": "AccessDeniedException", "message": refusal})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{
		"AccessKeyId": c.AccessKeyID, "SecretAccessKey": c.SecretAccessKey, "Token": c.SessionToken,
		"AccountId": AWSAccount, "Expiration": c.Expires.Format(time.RFC3339Nano),
	})
}

func stsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		code, xmlEscape(msg), randomHex(8))
}

// VerifyConnect checks an IAM token as ElastiCache (or MemoryDB) does for
// cfg's cache and user: the connect request for exactly them, signed for
// the service in AWSRegion with credentials this STS handed out, its
// signature right, and neither its X-Amz-Expires nor the credentials
// past. It returns when the token stops being good.
func (s *STS) VerifyConnect(cfg redisauth.AWSConfig, password string) (time.Time, error) {
	u, err := url.Parse("http://" + password)
	if err != nil {
		return time.Time{}, fmt.Errorf("not a presigned URL: %w", err)
	}
	q := u.Query()
	service, resourceType := "elasticache", ""
	switch cfg.Service {
	case redisauth.AWSElastiCacheServerless:
		resourceType = "ServerlessCache"
	case redisauth.AWSMemoryDB:
		service = "memorydb"
	}
	scope := strings.Split(q.Get("X-Amz-Credential"), "/")
	switch {
	case u.Host != cfg.CacheName || u.Path != "/":
		return time.Time{}, fmt.Errorf("signed for %s%s, not the cache %s", u.Host, u.Path, cfg.CacheName)
	case q.Get("Action") != "connect" || q.Get("User") != cfg.Username || q.Get("ResourceType") != resourceType:
		return time.Time{}, fmt.Errorf("not a connect request for %s (ResourceType %q): %s", cfg.Username, resourceType, u.RawQuery)
	case q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" || q.Get("X-Amz-SignedHeaders") != "host":
		return time.Time{}, fmt.Errorf("not SigV4 over the host: %s", u.RawQuery)
	case len(scope) != 5 || scope[2] != AWSRegion || scope[3] != service || scope[4] != "aws4_request":
		return time.Time{}, fmt.Errorf("credential scope %q, want …/%s/%s/aws4_request", q.Get("X-Amz-Credential"), AWSRegion, service)
	}
	s.mu.Lock()
	creds, ok := s.keys[scope[0]]
	s.mu.Unlock()
	if !ok {
		return time.Time{}, fmt.Errorf("access key %s was not handed out by STS", scope[0])
	}
	if q.Get("X-Amz-Security-Token") != creds.SessionToken {
		return time.Time{}, errors.New("the session token is not the access key's")
	}
	signed, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		return time.Time{}, fmt.Errorf("X-Amz-Date: %w", err)
	}
	seconds, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || seconds <= 0 || seconds > 900 {
		return time.Time{}, fmt.Errorf("X-Amz-Expires %q: want 1..900 seconds", q.Get("X-Amz-Expires"))
	}
	// The signature is checked as the service checks it, by AWS's
	// documented algorithm, not by the SDK's signer that made it.
	want := SigV4QuerySignature(creds.SecretAccessKey, u.Host, q, AWSRegion, service, signed)
	if !hmac.Equal([]byte(want), []byte(q.Get("X-Amz-Signature"))) {
		return time.Time{}, errors.New("the signature does not match")
	}
	expires := signed.Add(time.Duration(seconds) * time.Second)
	if creds.Expires.Before(expires) {
		expires = creds.Expires
	}
	return expires, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
