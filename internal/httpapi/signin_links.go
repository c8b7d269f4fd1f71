package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/loopback"
)

// Sign-in links (MCP URL elicitation, docs/api.md "Sign-in links"): the MCP
// server registers the provider's authorization URL and gets a start URL;
// the browser that opens it gets a binding cookie, and only a callback from
// a browser with that cookie is stored.

// maxLinkURL bounds authorization_url and return_url.
const maxLinkURL = 4 << 10

// newLinkID is a sign-in link's ID: 128 random bits, not the state.
func newLinkID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validLinkID: what newLinkID makes, so that anything else is refused
// before it reaches the store.
func validLinkID(id string) bool {
	if len(id) != 22 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil
}

// browserBinding makes and checks the cookie that ties a browser to a
// state: its name and value are HMACs of the state under the server
// secret, so nobody can make one without opening the start URL, and it
// names no state. Every key of a rotation is accepted; the first makes.
type browserBinding struct{ keys [][]byte }

func newBrowserBinding(secrets [][]byte) browserBinding {
	var b browserBinding
	for _, s := range secrets {
		b.keys = append(b.keys, append([]byte("oauth-callback-server/browser-binding\x00"), s...))
	}
	return b
}

func (b browserBinding) mac(key []byte, purpose, state string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(state))
	return m.Sum(nil)
}

// cookieName is per state, so that sign-ins in two tabs do not overwrite
// each other's cookie. __Host-: only this host, over HTTPS, for path /.
func (b browserBinding) cookieName(key []byte, state string) string {
	return "__Host-oauth-callback-" + hex.EncodeToString(b.mac(key, "name", state)[:8])
}

// cookie binds the browser to state for maxAge seconds. SameSite=None: the
// cookie must come along with a form_post callback, a cross-site POST.
func (b browserBinding) cookie(state string, maxAge int) *http.Cookie {
	key := b.keys[0]
	// #nosec G124 -- SameSite=None on purpose: a form_post callback is a
	// cross-site POST, which Lax would strip the cookie from. It is Secure,
	// HttpOnly and __Host-, and worth nothing without the browser that
	// opened the link.
	return &http.Cookie{
		Name:     b.cookieName(key, state),
		Value:    base64.RawURLEncoding.EncodeToString(b.mac(key, "value", state)),
		Path:     "/",
		MaxAge:   maxAge,
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteNoneMode,
	}
}

// bound reports whether r carries the binding cookie for state, and the
// name it came under (to clear it).
func (b browserBinding) bound(r *http.Request, state string) (string, bool) {
	for _, key := range b.keys {
		name := b.cookieName(key, state)
		c, err := r.Cookie(name)
		if err != nil {
			continue
		}
		got, err := base64.RawURLEncoding.DecodeString(c.Value)
		if err == nil && hmac.Equal(got, b.mac(key, "value", state)) {
			return name, true
		}
		return name, false
	}
	return "", false
}

// clearCookie removes the cookie named name.
func clearCookie(w http.ResponseWriter, name string) {
	// #nosec G124 -- the same attributes as the cookie it clears.
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteNoneMode})
}

// checkAuthorizationURL: https (http only on loopback), a host on the
// allowlist, exactly one state parameter equal to the registered state, and
// exactly one redirect_uri, this service's /callback. Parameter names are
// compared without case, and a query that url.ParseQuery refuses (a ';', a
// bad escape) is refused: Go's URL.Query drops such pairs silently, while
// browsers and providers keep them, so a hidden "redirect_uri=…;" would
// otherwise pass the check and reach the provider.
func (s *server) checkAuthorizationURL(raw, state string) error {
	if len(s.opts.SignInLinks.AuthorizeHosts) == 0 {
		return badRequest("authorization_url is not accepted: sign-in links are off on this server (OAUTH_CALLBACK_AUTHORIZE_HOSTS)")
	}
	u, err := checkLinkURL("authorization_url", raw, s.opts.SignInLinks.AuthorizeHosts, "OAUTH_CALLBACK_AUTHORIZE_HOSTS")
	if err != nil {
		return err
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return badRequest("authorization_url's query cannot be read unambiguously: use & between parameters, never ';', and escape every value")
	}
	if got := valuesFold(q, "state"); len(got) != 1 || got[0] != state {
		return badRequest("authorization_url must carry exactly one state parameter, equal to the state registered")
	}
	if got := valuesFold(q, "redirect_uri"); len(got) != 1 || got[0] != s.opts.SignInLinks.PublicURL+"/callback" {
		return badRequest("authorization_url must carry exactly one redirect_uri, this service's %s/callback", s.opts.SignInLinks.PublicURL)
	}
	return nil
}

// valuesFold is every value of the parameter name, in any case.
func valuesFold(q url.Values, name string) []string {
	var out []string
	for k, vs := range q {
		if strings.EqualFold(k, name) {
			out = append(out, vs...)
		}
	}
	return out
}

// checkReturnURL: as an authorization URL, against its own allowlist.
func (s *server) checkReturnURL(raw string) error {
	if len(s.opts.SignInLinks.ReturnHosts) == 0 {
		return badRequest("return_url is not accepted: no return hosts are allowed on this server (OAUTH_CALLBACK_RETURN_HOSTS)")
	}
	_, err := checkLinkURL("return_url", raw, s.opts.SignInLinks.ReturnHosts, "OAUTH_CALLBACK_RETURN_HOSTS")
	return err
}

func checkLinkURL(field, raw string, hosts []string, variable string) (*url.URL, error) {
	if len(raw) > maxLinkURL {
		return nil, badRequest("%s is longer than %d KiB", field, maxLinkURL>>10)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return nil, badRequest("%s must be an absolute URL", field)
	}
	if u.User != nil {
		return nil, badRequest("%s must not carry a user name or password", field)
	}
	host := strings.ToLower(u.Hostname())
	if u.Scheme != "https" && !(u.Scheme == "http" && loopback.Is(host)) {
		return nil, badRequest("%s must use https (http only for a loopback host)", field)
	}
	if !slices.Contains(hosts, host) {
		return nil, badRequest("%s's host is not one this server allows (%s)", field, variable)
	}
	return u, nil
}

// linkOf is the sign-in link a registration asks for; nil for none.
func (s *server) linkOf(state string, req registerRequest) (*callback.Link, error) {
	if req.AuthorizationURL == "" {
		if req.ReturnURL != "" {
			return nil, badRequest("return_url needs an authorization_url: it is the way back from a sign-in link")
		}
		return nil, nil
	}
	if err := s.checkAuthorizationURL(req.AuthorizationURL, state); err != nil {
		return nil, err
	}
	if req.ReturnURL != "" {
		if err := s.checkReturnURL(req.ReturnURL); err != nil {
			return nil, err
		}
	}
	return &callback.Link{ID: newLinkID(), AuthorizationURL: req.AuthorizationURL, ReturnURL: req.ReturnURL}, nil
}
