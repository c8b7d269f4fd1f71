package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth-callback-server/oauth-callback-server/internal/apps"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/redisstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/loopback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/redisauth"
	"github.com/oauth-callback-server/oauth-callback-server/internal/units"
)

// The parsers and checks the variables use.

func intIn(dst *int, v string, lo, hi int) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("not a whole number")
	}
	if n < lo || n > hi {
		return fmt.Errorf("must be between %d and %d", lo, hi)
	}
	*dst = n
	return nil
}

func bytesIn(dst *int64, v string, lo, hi int64) error {
	n, err := units.Bytes(v)
	if err != nil {
		return err
	}
	if n < lo || n > hi {
		return fmt.Errorf("must be between %s and %s", units.FormatBytes(lo), units.FormatBytes(hi))
	}
	*dst = n
	return nil
}

func durationIn(dst *time.Duration, v string, lo, hi time.Duration) error {
	d, err := units.Duration(v)
	if err != nil {
		return err
	}
	if d < lo || d > hi {
		return fmt.Errorf("must be between %v and %v", lo, hi)
	}
	*dst = d
	return nil
}

func boolValue(dst *bool, v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("must be true or false")
	}
	*dst = b
	return nil
}

func wholeSeconds(d time.Duration) error {
	if d%time.Second != 0 {
		return fmt.Errorf("must be whole seconds")
	}
	return nil
}

func checkRedisAuth(v string) (string, error) {
	switch v {
	case redisstore.AuthPassword, redisstore.AuthEntra, redisstore.AuthAWS, redisstore.AuthGCP:
		return v, nil
	}
	return "", fmt.Errorf("must be %s, %s, %s or %s", redisstore.AuthPassword, redisstore.AuthEntra, redisstore.AuthAWS, redisstore.AuthGCP)
}

func checkAWSService(v string) (string, error) {
	switch v {
	case redisauth.AWSElastiCache, redisauth.AWSElastiCacheServerless, redisauth.AWSMemoryDB:
		return v, nil
	}
	return "", fmt.Errorf("must be %s, %s or %s", redisauth.AWSElastiCache, redisauth.AWSElastiCacheServerless, redisauth.AWSMemoryDB)
}

func checkRedisURL(v string) (string, error) {
	if _, err := redis.ParseURL(v); err != nil {
		// go-redis's message may quote the URL, password included: say
		// only what kind of mistake it is.
		u, uerr := url.Parse(v)
		if uerr != nil {
			return "", fmt.Errorf("not a valid URL")
		}
		switch u.Scheme {
		case "redis", "rediss", "unix":
			return "", fmt.Errorf("not a valid Redis URL (want redis://[user:password@]host:port[/db])")
		default:
			return "", fmt.Errorf("scheme must be redis, rediss or unix")
		}
	}
	return v, nil
}

func checkAddr(a string) (string, error) {
	if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
		return "", fmt.Errorf("%q is not host:port", a)
	}
	return a, nil
}

func readableFile(v string) (string, error) {
	if _, err := os.Stat(v); err != nil {
		return "", fmt.Errorf("cannot read the file: %v", err)
	}
	return v, nil
}

func checkPublicURL(v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		!(u.Scheme == "https" || u.Scheme == "http" && loopback.Is(u.Hostname())) {
		return "", fmt.Errorf("must be https://host[:port][/path] (http only on a loopback host), like https://auth.example.com")
	}
	v = strings.TrimSuffix(v, "/")
	// The base URL, not the redirect URI: taken as a base, …/callback would
	// make the redirect URI …/callback/callback, which nothing serves.
	if base, ok := strings.CutSuffix(v, callbackPath); ok {
		return "", fmt.Errorf("is the redirect URI, not the service's base URL: set it to %s (the redirect URI to register is that plus %s)", base, callbackPath)
	}
	return v, nil
}

// callbackPath is where the service receives callbacks below its public
// URL (httpapi's route).
const callbackPath = "/callback"

func checkHost(h string) (string, error) {
	h = strings.ToLower(h)
	// Only what a host name holds: these hosts also go into the sign-in
	// link page's Content-Security-Policy, where a ';' would start a
	// directive of its own.
	if strings.Trim(h, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" || strings.Contains(h, "..") {
		return "", fmt.Errorf("each must be a host name (letters, digits, dots and dashes; xn-- for an internationalised one) without scheme, port or path, like login.microsoftonline.com")
	}
	return h, nil
}

func checkEncryptionKey(k string) (string, error) {
	if len(k) < 32 {
		return "", fmt.Errorf("each key must be at least 32 characters (e.g. openssl rand -base64 32)")
	}
	return k, nil
}

func checkToken(t string) (string, error) {
	if _, err := apps.ParseToken(t); err != nil {
		return "", err
	}
	return t, nil
}

func checkOrigin(o string) (string, error) {
	if o == "*" {
		return o, nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("each origin must be * or scheme://host[:port], like https://app.example.com")
	}
	return strings.TrimSuffix(o, "/"), nil
}

func setTrustedProxies(dst *[]netip.Prefix, v string) error {
	*dst = nil
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return fmt.Errorf("%q is neither a CIDR (10.0.0.0/8) nor an IP", p)
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		*dst = append(*dst, prefix.Masked())
	}
	return nil
}
