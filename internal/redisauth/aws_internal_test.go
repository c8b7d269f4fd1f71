package redisauth

import (
	"strings"
	"testing"
)

// awsWho names what the SDK's chain picks, in its order, and never the
// key id: with IRSA and AWS_PROFILE both set the SDK uses IRSA.
func TestAWSWhoFollowsTheSDKsOrder(t *testing.T) {
	const keyID = "AKIAIOSFODNN7EXAMPLE"
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"static keys", map[string]string{"AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": "secret", "AWS_WEB_IDENTITY_TOKEN_FILE": "/t"}, "static keys from the environment"},
		{"IRSA before a profile", map[string]string{"AWS_PROFILE": "dev", "AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "arn:aws:iam::1:role/r"}, "IRSA web identity, role arn:aws:iam::1:role/r"},
		{"a key id without its secret is no keys", map[string]string{"AWS_ACCESS_KEY_ID": keyID, "AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "r"}, "IRSA web identity, role r"},
		{"a profile before the container endpoints", map[string]string{"AWS_PROFILE": "dev", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials"}, "profile dev"},
		{"ECS before Pod Identity", map[string]string{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/x", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials"}, "ECS task role"},
		{"EKS Pod Identity", map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials"}, "EKS Pod Identity"},
		{"nothing", nil, "the instance profile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := awsWho(func(k string) string { return tt.env[k] })
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if strings.Contains(got, keyID) {
				t.Errorf("%q shows the access key id", got)
			}
		})
	}
}

// Credentials from the instance metadata service are the node's role,
// and the identity says so, for check to warn; the pod's own are not.
func TestAWSSaysWhenItIsTheNodesIdentity(t *testing.T) {
	for source, node := range map[string]bool{
		"EC2RoleProvider":              true,
		"WebIdentityCredentials":       false,
		"EnvConfigCredentials":         false,
		"ContainerCredentialsProvider": false,
		"":                             false,
	} {
		a := &AWS{cfg: AWSConfig{Service: AWSElastiCache, CacheName: "c", Username: "u"}, who: "x", source: source}
		if got := a.Identity().Node; got != node {
			t.Errorf("credentials from %q: Node %v, want %v", source, got, node)
		}
	}
}
