package main

import (
	"strings"
	"testing"

	"github.com/oauth-callback-server/oauth-callback-server/internal/redisauth"
)

// Signed in as the node (an EC2 instance profile, a Compute Engine default
// service account), check warns: any pod on the node could sign in too.
func TestCheckWarnsWhenTheIdentityIsTheNodes(t *testing.T) {
	node := redisauth.Identity{Cloud: "AWS IAM", Who: "the instance profile (EC2RoleProvider)", Node: true}
	got := nodeIdentity(node)
	if len(got) != 1 || got[0].Status != statusWarn || !strings.Contains(got[0].Message, "this is the node's identity, not the pod's") {
		t.Errorf("the node's identity: %v, want one warning", got)
	}
	if got := nodeIdentity(redisauth.Identity{Cloud: "AWS IAM", Who: "IRSA web identity"}); len(got) != 0 {
		t.Errorf("the pod's identity: %v, want no finding", got)
	}
}
