package authtest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/oauth-callback-server/oauth-callback-server/internal/redisauth"
)

// EntraObjectID is the identity the Entra stand-in issues tokens for: the
// Redis user, as on Azure.
const EntraObjectID = "5f0c6ad1-3b8e-4c1f-9a51-0d2f6c7e8a90"

// Entra plays Microsoft Entra ID as azidentity's credentials do
// (azcore.TokenCredential), handing out tokens of Lifetime for
// redisauth.EntraScope, and checks them as Azure's Redis would.
type Entra struct {
	Lifetime time.Duration

	mu      sync.Mutex
	fail    error
	issued  int
	refused int
	tokens  map[string]time.Time
}

// NewEntra is the stand-in.
func NewEntra(lifetime time.Duration) *Entra {
	return &Entra{Lifetime: lifetime, tokens: map[string]time.Time{}}
}

// GetToken implements azcore.TokenCredential.
func (e *Entra) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(opts.Scopes) != 1 || opts.Scopes[0] != redisauth.EntraScope {
		return azcore.AccessToken{}, fmt.Errorf("asked for scopes %v", opts.Scopes)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail != nil {
		e.refused++
		return azcore.AccessToken{}, e.fail
	}
	e.issued++
	tok := JWT(EntraObjectID, e.issued)
	expires := time.Now().Add(e.Lifetime)
	e.tokens[tok] = expires
	return azcore.AccessToken{Token: tok, ExpiresOn: expires}, nil
}

// SetFailure makes it refuse with msg ("" to stop).
func (e *Entra) SetFailure(msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fail = nil
	if msg != "" {
		e.fail = errors.New(msg)
	}
}

// Refusals is how many token requests were refused.
func (e *Entra) Refusals() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.refused
}

// Verify checks a token as Azure's Redis does: one Entra ID issued.
func (e *Entra) Verify(_, password string) (time.Time, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	expires, ok := e.tokens[password]
	if !ok {
		return time.Time{}, errors.New("not a token Entra ID issued")
	}
	return expires, nil
}

// JWT is an unsigned token shaped like Entra ID's: what the service reads
// of it is the oid claim; Redis reads it as an opaque password.
func JWT(oid string, n int) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(`{"oid":"`+oid+`","n":`+strconv.Itoa(n)+`}`)) + ".sig"
}

var _ azcore.TokenCredential = (*Entra)(nil)
