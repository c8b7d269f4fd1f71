package config_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/apps"
	"github.com/oauth-callback-server/oauth-callback-server/internal/config"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestDefaultsMatchTheOriginalService(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Listen.Addr(), "0.0.0.0:8000"; got != want {
		t.Errorf("Addr: got %q, want %q", got, want)
	}
	if c.Store.TTL != 10*time.Minute {
		t.Errorf("TTL: got %v, want 10m", c.Store.TTL)
	}
	if c.Redis.URL != "" {
		t.Errorf("RedisURL: got %q, want empty (memory store)", c.Redis.URL)
	}
	if c.Memory.MaxEntries != 100000 {
		t.Errorf("MaxEntries: got %d", c.Memory.MaxEntries)
	}
	if len(c.HTTP.CORSOrigins) != 1 || c.HTTP.CORSOrigins[0] != "*" {
		t.Errorf("CORSOrigins: got %v, want [*]", c.HTTP.CORSOrigins)
	}
	if c.Redis.Timeout != time.Second || c.Log.Level != slog.LevelInfo || c.Log.Format != "json" {
		t.Errorf("got %+v", c)
	}
}

func TestValidValues(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"OAUTH_CALLBACK_HOST":          "127.0.0.1",
		"OAUTH_CALLBACK_PORT":          "9000",
		"OAUTH_CALLBACK_REDIS_URL":     "rediss://user:pw@redis.example:6380/2",
		"OAUTH_CALLBACK_TTL":           "300",
		"OAUTH_CALLBACK_STORE_TIMEOUT": "250ms",
		"OAUTH_CALLBACK_DRAIN_DELAY":   "0",
		"OAUTH_CALLBACK_CORS_ORIGINS":  "https://a.example, http://localhost:3000/",
		"OAUTH_CALLBACK_LOG_LEVEL":     "DEBUG",
		"OAUTH_CALLBACK_LOG_FORMAT":    "text",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen.Addr() != "127.0.0.1:9000" || c.Store.TTL != 5*time.Minute || c.Redis.Timeout != 250*time.Millisecond ||
		c.Shutdown.DrainDelay != 0 || c.Log.Level != slog.LevelDebug || c.Log.Format != "text" {
		t.Errorf("got %+v", c)
	}
	if got := strings.Join(c.HTTP.CORSOrigins, " "); got != "https://a.example http://localhost:3000" {
		t.Errorf("CORSOrigins: got %q", got)
	}
}

func TestInvalidValues(t *testing.T) {
	tests := []struct {
		name, value string
		wantInMsg   string
	}{
		{"OAUTH_CALLBACK_PORT", "80a", "not a whole number"},
		{"OAUTH_CALLBACK_PORT", "70000", "between 0 and 65535"},
		{"OAUTH_CALLBACK_TTL", "ten minutes", "not a duration"},
		{"OAUTH_CALLBACK_TTL", "1500ms", "whole seconds"},
		{"OAUTH_CALLBACK_TTL", "0", "between"},
		{"OAUTH_CALLBACK_TTL", "-5", "out of range"},
		{"OAUTH_CALLBACK_MAX_ENTRIES", "0", "between"},
		{"OAUTH_CALLBACK_STORE_TIMEOUT", "30s", "between 10ms and 5s"},
		{"OAUTH_CALLBACK_REDIS_URL", "http://x:1", "scheme must be"},
		{"OAUTH_CALLBACK_REDIS_URL", "redis://u:secretpw@host:6379/db", "not a valid Redis URL"},
		{"OAUTH_CALLBACK_REDIS_KEY_PREFIX", "a{b}", "braces"},
		{"OAUTH_CALLBACK_CORS_ORIGINS", "https://a.example/path", "scheme://host"},
		{"OAUTH_CALLBACK_CORS_ORIGINS", ",", "at least one"},
		{"OAUTH_CALLBACK_LOG_LEVEL", "loud", "debug, info"},
		{"OAUTH_CALLBACK_LOG_FORMAT", "xml", "json or text"},
		{"OAUTH_CALLBACK_SHUTDOWN_TIMEOUT", "1h", "between"},
		{"OAUTH_CALLBACK_API_TOKENS", "short", "at least 16"},
		{"OAUTH_CALLBACK_API_TOKENS", "0123456789abcdef, has space in it!!", "without spaces"},
		{"OAUTH_CALLBACK_REQUIRE_REGISTRATION", "yes please", "true or false"},
		{"OAUTH_CALLBACK_RATE_LIMIT_CALLBACK", "-1", "between"},
		{"OAUTH_CALLBACK_TRUSTED_PROXIES", "10.0.0.0/33", "neither a CIDR"},
		{"OAUTH_CALLBACK_ENCRYPTION_KEY", "secretpw", "at least 32"},
		{"OAUTH_CALLBACK_ENCRYPTION_KEY", "0123456789abcdef0123456789abcdef,secretpw", "at least 32"},
		{"OAUTH_CALLBACK_ENCRYPTION_KEY", " , ", "holds no key"},
		// "," used to leave the API open without a word.
		{"OAUTH_CALLBACK_API_TOKENS", ",", "holds no token"},
		{"OAUTH_CALLBACK_API_TOKENS", " , ", "holds no token"},
		// Hostile traffic, round 3, item 9: blanks started with the API open.
		{"OAUTH_CALLBACK_API_TOKENS", " ", "set but blank"},
		{"OAUTH_CALLBACK_API_TOKENS", "\n", "set but blank"},
		{"OAUTH_CALLBACK_API_TOKENS", "\t", "set but blank"},
		{"OAUTH_CALLBACK_ENCRYPTION_KEY", " \n", "set but blank"},
		{"OAUTH_CALLBACK_MAX_MEMORY", "64 lots", "not a size"},
		{"OAUTH_CALLBACK_MAX_MEMORY", "100KiB", "between 1MiB and 64GiB"},
		{"OAUTH_CALLBACK_MAX_CALLBACK_BYTES", "1MiB", "between 1KiB and 256KiB"},
		{"OAUTH_CALLBACK_MEMORY_LIMIT", "8MiB", "between 16MiB and 1TiB"},
		{"OAUTH_CALLBACK_STATE_MIN_LENGTH", "0", "between 1 and 512"},
		// A list that holds no item is a mistake, whatever it lists.
		{"OAUTH_CALLBACK_AUTHORIZE_HOSTS", " , ", "holds no host"},
		{"OAUTH_CALLBACK_REDIS_SENTINEL_ADDRS", ",", "holds no address"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			_, err := config.Load(env(map[string]string{tt.name: tt.value}))
			var cerr *config.Error
			if !errors.As(err, &cerr) {
				t.Fatalf("got %v, want *config.Error", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.name) || !strings.Contains(msg, tt.wantInMsg) {
				t.Errorf("message %q: want it to start with %s and contain %q", msg, tt.name, tt.wantInMsg)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("message spans lines: %q", msg)
			}
			if strings.Contains(msg, "secretpw") {
				t.Errorf("message leaks the password: %q", msg)
			}
		})
	}
}

func TestSecuritySettings(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"OAUTH_CALLBACK_API_TOKENS":           "tok-aaaaaaaaaaaaaaaa, tok-bbbbbbbbbbbbbbbb",
		"OAUTH_CALLBACK_REQUIRE_REGISTRATION": "true",
		"OAUTH_CALLBACK_RATE_LIMIT_CALLBACK":  "0",
		"OAUTH_CALLBACK_TRUSTED_PROXIES":      "10.0.0.0/8, 192.168.1.7, fd00::/8",
		"OAUTH_CALLBACK_ENCRYPTION_KEY":       "0123456789abcdef0123456789abcdef",
		"OAUTH_CALLBACK_STATE_MIN_LENGTH":     "32",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.HTTP.Apps) != 1 || len(c.HTTP.Apps[0].Digests) != 2 || c.HTTP.Apps[0].Digests[1] != sha256.Sum256([]byte("tok-bbbbbbbbbbbbbbbb")) || !c.Store.RequireRegistration ||
		c.HTTP.RateLimits.Callback != 0 || c.HTTP.RateLimits.API != 1200 || c.HTTP.StateMinLength != 32 || len(c.EncryptionKeys) != 1 || len(c.EncryptionKeys[0]) != 32 {
		t.Errorf("got %+v", c)
	}
	if got := fmt.Sprint(c.HTTP.TrustedProxies); got != "[10.0.0.0/8 192.168.1.7/32 fd00::/8]" {
		t.Errorf("TrustedProxies: %s", got)
	}
	// Defaults: permissive where the field client needs it.
	d, _ := config.Load(env(nil))
	if d.HTTP.Apps != nil || d.Store.RequireRegistration || d.HTTP.RateLimits.Callback != 60 || d.HTTP.StateMinLength != 1 {
		t.Errorf("defaults: %+v", d)
	}
}

// Every bad variable is reported at once, one line each.
func TestEveryInvalidVariableAtOnce(t *testing.T) {
	_, err := config.Load(env(map[string]string{
		"OAUTH_CALLBACK_PORT":       "eighty",
		"OAUTH_CALLBACK_TTL":        "forever",
		"OAUTH_CALLBACK_API_TOKENS": ",",
	}))
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("got %v, want *config.Error", err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "OAUTH_CALLBACK_PORT") ||
		!strings.HasPrefix(lines[1], "OAUTH_CALLBACK_TTL") || !strings.HasPrefix(lines[2], "OAUTH_CALLBACK_API_TOKENS") {
		t.Errorf("want one line per bad variable, in the order of -h:\n%v", err)
	}
}

func TestByteBudgets(t *testing.T) {
	d, _ := config.Load(env(nil))
	if d.Store.MaxBytes != 64<<20 || d.HTTP.MaxCallbackBytes != 16<<10 {
		t.Errorf("defaults: MaxMemory %d, MaxCallbackBytes %d", d.Store.MaxBytes, d.HTTP.MaxCallbackBytes)
	}
	if c, err := config.Load(env(map[string]string{"OAUTH_CALLBACK_MEMORY_LIMIT": "402653184", "GOMEMLIMIT": "300MiB"})); err != nil || c.MemoryLimit != 384<<20 || !c.GOMEMLIMIT {
		t.Errorf("MEMORY_LIMIT from the downward API: %d, GOMEMLIMIT seen %v, %v", c.MemoryLimit, c.GOMEMLIMIT, err)
	}
	for value, want := range map[string]int64{"2GiB": 2 << 30, "512MB": 512 << 20, "1048576": 1 << 20, "3 MiB": 3 << 20, "2G": 2 << 30} {
		c, err := config.Load(env(map[string]string{"OAUTH_CALLBACK_MAX_MEMORY": value}))
		if err != nil || c.Store.MaxBytes != want {
			t.Errorf("MAX_MEMORY=%s: %d, %v; want %d", value, c.Store.MaxBytes, err, want)
		}
	}
}

func TestEncryptionKeyRotationList(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"OAUTH_CALLBACK_ENCRYPTION_KEY": "new-0123456789abcdef0123456789abcdef, old-0123456789abcdef0123456789abcdef",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.EncryptionKeys) != 2 || c.EncryptionKeys[0][:4] != "new-" || c.EncryptionKeys[1][:4] != "old-" {
		t.Errorf("keys: %d, want new then old", len(c.EncryptionKeys))
	}
}

func TestSecretsAreNeverEchoed(t *testing.T) {
	for name, value := range map[string]string{
		"OAUTH_CALLBACK_API_TOKENS":     "short-secret",
		"OAUTH_CALLBACK_ENCRYPTION_KEY": "short-secret",
		"OAUTH_CALLBACK_REDIS_URL":      "redis://u:short-secret@h:1/x",
	} {
		_, err := config.Load(env(map[string]string{name: value}))
		if err == nil || strings.Contains(err.Error(), "short-secret") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestUsageListsEveryVariable(t *testing.T) {
	var buf bytes.Buffer
	config.PrintUsage(&buf)
	for _, name := range []string{
		"OAUTH_CALLBACK_HOST", "OAUTH_CALLBACK_PORT", "OAUTH_CALLBACK_REDIS_URL", "OAUTH_CALLBACK_REDIS_PASSWORD",
		"OAUTH_CALLBACK_TTL", "OAUTH_CALLBACK_MAX_ENTRIES", "OAUTH_CALLBACK_CORS_ORIGINS", "OAUTH_CALLBACK_LOG_LEVEL",
		"OAUTH_CALLBACK_LOG_FORMAT", "OAUTH_CALLBACK_SHUTDOWN_TIMEOUT", "OAUTH_CALLBACK_DRAIN_DELAY", "OAUTH_CALLBACK_STORE_TIMEOUT",
	} {
		if !strings.Contains(buf.String(), name) {
			t.Errorf("usage lacks %s", name)
		}
	}
}

// Files the settings name are read by Load: a wrong one stops start-up
// with the variable that names it, together with every other problem.
func TestFilesAreCheckedByLoad(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(env(map[string]string{
		"OAUTH_CALLBACK_REDIS_URL":         "rediss://127.0.0.1:6380",
		"OAUTH_CALLBACK_REDIS_TLS_CA_FILE": notPEM,
		"OAUTH_CALLBACK_TEMPLATES_DIR":     dir, // has no templates
	}))
	if err == nil || !strings.Contains(err.Error(), "OAUTH_CALLBACK_TEMPLATES_DIR") ||
		!strings.Contains(err.Error(), "OAUTH_CALLBACK_REDIS_TLS_CA_FILE") || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("got %v, want both files named", err)
	}
	c, err := config.Load(env(nil))
	if err != nil || c.PageRenderer == nil || c.Redis.TLS != nil {
		t.Fatalf("defaults: pages %v, TLS %v, %v", c.PageRenderer, c.Redis.TLS, err)
	}
}

func TestSignInLinksNeedAPublicURLAndASecret(t *testing.T) {
	_, err := config.Load(env(map[string]string{"OAUTH_CALLBACK_AUTHORIZE_HOSTS": "login.microsoftonline.com"}))
	if err == nil {
		t.Fatal("AUTHORIZE_HOSTS alone was accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "OAUTH_CALLBACK_PUBLIC_URL") || !strings.HasPrefix(lines[1], "OAUTH_CALLBACK_ENCRYPTION_KEY") {
		t.Fatalf("want one line naming each missing variable, got:\n%v", err)
	}
	c, err := config.Load(env(map[string]string{
		"OAUTH_CALLBACK_AUTHORIZE_HOSTS": " Login.MicrosoftOnline.com ,",
		"OAUTH_CALLBACK_PUBLIC_URL":      "https://auth.example.com/",
		"OAUTH_CALLBACK_ENCRYPTION_KEY":  strings.Repeat("k", 32),
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.SignInLinks.PublicURL != "https://auth.example.com" || len(c.HTTP.SignInLinks.AuthorizeHosts) != 1 || c.HTTP.SignInLinks.AuthorizeHosts[0] != "login.microsoftonline.com" {
		t.Fatalf("got %q %v", c.HTTP.SignInLinks.PublicURL, c.HTTP.SignInLinks.AuthorizeHosts)
	}
	for _, bad := range []map[string]string{
		{"OAUTH_CALLBACK_PUBLIC_URL": "http://auth.example.com"}, // http off loopback: the cookie is Secure
		{"OAUTH_CALLBACK_PUBLIC_URL": "auth.example.com"},
		{"OAUTH_CALLBACK_PUBLIC_URL": "https://auth.example.com/callback"}, // the redirect URI, not the base
		{"OAUTH_CALLBACK_AUTHORIZE_HOSTS": "https://login.microsoftonline.com"},
		{"OAUTH_CALLBACK_RETURN_HOSTS": "*.example.com"},
		// Hosts go into the sign-in link page's CSP as they are.
		{"OAUTH_CALLBACK_AUTHORIZE_HOSTS": "login.example.com;script-src", "OAUTH_CALLBACK_PUBLIC_URL": "https://auth.example.com", "OAUTH_CALLBACK_ENCRYPTION_KEY": strings.Repeat("k", 32)},
		{"OAUTH_CALLBACK_RETURN_HOSTS": "app.example.com'"},
	} {
		if _, err := config.Load(env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if _, err := config.Load(env(map[string]string{"OAUTH_CALLBACK_PUBLIC_URL": "http://127.0.0.1:8000"})); err != nil {
		t.Errorf("loopback http refused: %v", err)
	}
}

// docs/configuration.md's table is the operator's reference: the same
// variables as -h, in the same order, with the same defaults. A setting
// added to the code and not to the table (or the reverse) fails here.
func TestDocsTableMatchesTheVariables(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ name, def string }
	var documented []row
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`OAUTH_CALLBACK_") {
			continue
		}
		def := strings.Trim(strings.TrimSpace(cells[2]), "`")
		if def == "unset" {
			def = "(unset)"
		}
		documented = append(documented, row{strings.Trim(strings.TrimSpace(cells[1]), "`"), def})
	}
	var code []row
	for _, v := range config.Variables() {
		code = append(code, row{v.Name, v.Default})
	}
	for i := range max(len(documented), len(code)) {
		var d, c row
		if i < len(documented) {
			d = documented[i]
		}
		if i < len(code) {
			c = code[i]
		}
		if d != c {
			t.Errorf("row %d: docs/configuration.md has %s = %q, the code %s = %q", i+1, d.name, d.def, c.name, c.def)
		}
	}
}

// What -h shows as a default is what Load gives when nothing is set.
func TestUsageShowsTheDefaultsLoadGives(t *testing.T) {
	shown := map[string]string{}
	for _, v := range config.Variables() {
		shown[v.Name] = v.Default
	}
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"OAUTH_CALLBACK_TTL":                c.Store.TTL.String(),
		"OAUTH_CALLBACK_MAX_WAIT":           c.HTTP.LongPoll.MaxWait.String(),
		"OAUTH_CALLBACK_MAX_CALLBACK_BYTES": fmt.Sprint(c.HTTP.MaxCallbackBytes),
		"OAUTH_CALLBACK_MAX_MEMORY":         fmt.Sprint(c.Store.MaxBytes),
		"OAUTH_CALLBACK_CORS_ORIGINS":       strings.Join(c.HTTP.CORSOrigins, ","),
		"OAUTH_CALLBACK_LOG_LEVEL":          strings.ToLower(c.Log.Level.String()),
	} {
		// Read the shown default back as Load would read it.
		got, err := config.Load(env(map[string]string{name: shown[name]}))
		if err != nil {
			t.Errorf("%s: the shown default %q does not load: %v", name, shown[name], err)
			continue
		}
		var again string
		switch name {
		case "OAUTH_CALLBACK_TTL":
			again = got.Store.TTL.String()
		case "OAUTH_CALLBACK_MAX_WAIT":
			again = got.HTTP.LongPoll.MaxWait.String()
		case "OAUTH_CALLBACK_MAX_CALLBACK_BYTES":
			again = fmt.Sprint(got.HTTP.MaxCallbackBytes)
		case "OAUTH_CALLBACK_MAX_MEMORY":
			again = fmt.Sprint(got.Store.MaxBytes)
		case "OAUTH_CALLBACK_CORS_ORIGINS":
			again = strings.Join(got.HTTP.CORSOrigins, ",")
		case "OAUTH_CALLBACK_LOG_LEVEL":
			again = strings.ToLower(got.Log.Level.String())
		}
		if again != want {
			t.Errorf("%s: shown as %q, which loads as %s; the default is %s", name, shown[name], again, want)
		}
	}
}

func TestRedisPasswordComesFromOnePlace(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("secretpw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(env(map[string]string{"OAUTH_CALLBACK_REDIS_URL": "redis://127.0.0.1:6379", "OAUTH_CALLBACK_REDIS_PASSWORD_FILE": file}))
	if err != nil || c.Redis.PasswordFile != file {
		t.Fatalf("password file: %q, %v", c.Redis.PasswordFile, err)
	}
	_, err = config.Load(env(map[string]string{"OAUTH_CALLBACK_REDIS_PASSWORD_FILE": file, "OAUTH_CALLBACK_REDIS_PASSWORD": "secretpw"}))
	if err == nil || !strings.Contains(err.Error(), "not both") || strings.Contains(err.Error(), "secretpw") {
		t.Fatalf("both: %v", err)
	}
	if _, err := config.Load(env(map[string]string{"OAUTH_CALLBACK_REDIS_PASSWORD_FILE": filepath.Join(t.TempDir(), "missing")})); err == nil {
		t.Fatal("a missing password file was accepted")
	}
}

// TestRedisAuthEntra: entra needs a Redis and no password anywhere (the
// tokens are the password); anything but password or entra is refused.
func TestRedisAuthEntra(t *testing.T) {
	c, err := config.Load(env(map[string]string{"OAUTH_CALLBACK_REDIS_URL": "rediss://cache.example.net:10000", "OAUTH_CALLBACK_REDIS_AUTH": "entra"}))
	if err != nil || c.Redis.Auth != "entra" {
		t.Fatalf("entra: %q, %v", c.Redis.Auth, err)
	}
	if c, _ := config.Load(env(nil)); c.Redis.Auth != "password" {
		t.Errorf("default: %q, want password", c.Redis.Auth)
	}
	for name, vars := range map[string]map[string]string{
		"a password":         {"OAUTH_CALLBACK_REDIS_URL": "redis://h:6379", "OAUTH_CALLBACK_REDIS_PASSWORD": "pw-secret"},
		"the URL's password": {"OAUTH_CALLBACK_REDIS_URL": "redis://u:pw-secret@h:6379"},
		"no Redis":           {},
		"an unknown value":   {"OAUTH_CALLBACK_REDIS_URL": "redis://h:6379", "OAUTH_CALLBACK_REDIS_AUTH": "kerberos"},
	} {
		if _, ok := vars["OAUTH_CALLBACK_REDIS_AUTH"]; !ok {
			vars["OAUTH_CALLBACK_REDIS_AUTH"] = "entra"
		}
		_, err := config.Load(env(vars))
		if err == nil || !strings.Contains(err.Error(), "OAUTH_CALLBACK_REDIS_AUTH") {
			t.Errorf("entra with %s: %v, want an error naming OAUTH_CALLBACK_REDIS_AUTH", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "pw-secret") {
			t.Errorf("entra with %s: the error shows the password: %v", name, err)
		}
	}
}

// TestRedisAuthAWSAndGCP: aws and gcp, like entra, refuse a password and
// need a Redis; both need TLS (ElastiCache and MemoryDB take IAM tokens
// over TLS only; a Google access token sent in the clear is good for
// every Google API its account may call); aws needs the IAM-enabled user
// and the cache's name, in lower case.
func TestRedisAuthAWSAndGCP(t *testing.T) {
	aws := map[string]string{"OAUTH_CALLBACK_REDIS_URL": "rediss://master.oauth.abc123.euw1.cache.amazonaws.com:6379", "OAUTH_CALLBACK_REDIS_AUTH": "aws",
		"OAUTH_CALLBACK_REDIS_USERNAME": "oauth-iam", "OAUTH_CALLBACK_REDIS_AWS_CACHE_NAME": "oauth"}
	c, err := config.Load(env(aws))
	if err != nil || c.Redis.Auth != "aws" || c.RedisAWS.CacheName != "oauth" || c.RedisAWS.Service != "elasticache" {
		t.Fatalf("aws: %+v, %v", c.RedisAWS, err)
	}
	with := func(base map[string]string, changes map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range changes {
			if v == "" {
				delete(out, k)
			} else {
				out[k] = v
			}
		}
		return out
	}
	if _, err := config.Load(env(with(aws, map[string]string{"OAUTH_CALLBACK_REDIS_AWS_SERVICE": "memorydb"}))); err != nil {
		t.Errorf("memorydb: %v", err)
	}
	cluster := with(aws, map[string]string{"OAUTH_CALLBACK_REDIS_URL": "", "OAUTH_CALLBACK_REDIS_CLUSTER_ADDRS": "oauth.serverless.euw1.cache.amazonaws.com:6379", "OAUTH_CALLBACK_REDIS_TLS": "true"})
	if _, err := config.Load(env(cluster)); err != nil {
		t.Errorf("aws on a cluster over TLS: %v", err)
	}
	for name, c := range map[string]struct {
		vars    map[string]string
		wantVar string
	}{
		"a plain URL":              {with(aws, map[string]string{"OAUTH_CALLBACK_REDIS_URL": "redis://oauth.cache.amazonaws.com:6379"}), "OAUTH_CALLBACK_REDIS_URL"},
		"a cluster without TLS":    {with(cluster, map[string]string{"OAUTH_CALLBACK_REDIS_TLS": ""}), "OAUTH_CALLBACK_REDIS_TLS"},
		"no user":                  {with(aws, map[string]string{"OAUTH_CALLBACK_REDIS_USERNAME": ""}), "OAUTH_CALLBACK_REDIS_USERNAME"},
		"no cache name":            {with(aws, map[string]string{"OAUTH_CALLBACK_REDIS_AWS_CACHE_NAME": ""}), "OAUTH_CALLBACK_REDIS_AWS_CACHE_NAME"},
		"an upper-case cache name": {with(aws, map[string]string{"OAUTH_CALLBACK_REDIS_AWS_CACHE_NAME": "OAuth"}), "OAUTH_CALLBACK_REDIS_AWS_CACHE_NAME"},
		"an unknown service":       {with(aws, map[string]string{"OAUTH_CALLBACK_REDIS_AWS_SERVICE": "dynamodb"}), "OAUTH_CALLBACK_REDIS_AWS_SERVICE"},
		"a password":               {with(aws, map[string]string{"OAUTH_CALLBACK_REDIS_PASSWORD": "pw-secret"}), "OAUTH_CALLBACK_REDIS_AUTH"},
		"gcp with a password":      {map[string]string{"OAUTH_CALLBACK_REDIS_URL": "redis://u:pw-secret@10.0.0.3:6379", "OAUTH_CALLBACK_REDIS_AUTH": "gcp"}, "OAUTH_CALLBACK_REDIS_AUTH"},
		"gcp without Redis":        {map[string]string{"OAUTH_CALLBACK_REDIS_AUTH": "gcp"}, "OAUTH_CALLBACK_REDIS_AUTH"},
		// Memorystore would take the token in the clear, and with it every
		// Google API the service account may call.
		"gcp on a plain URL":           {map[string]string{"OAUTH_CALLBACK_REDIS_URL": "redis://10.0.0.3:6379", "OAUTH_CALLBACK_REDIS_AUTH": "gcp"}, "OAUTH_CALLBACK_REDIS_URL"},
		"gcp on a cluster without TLS": {map[string]string{"OAUTH_CALLBACK_REDIS_CLUSTER_ADDRS": "10.0.0.3:6379", "OAUTH_CALLBACK_REDIS_AUTH": "gcp"}, "OAUTH_CALLBACK_REDIS_TLS"},
	} {
		_, err := config.Load(env(c.vars))
		if err == nil || !strings.Contains(err.Error(), c.wantVar) {
			t.Errorf("%s: %v, want an error naming %s", name, err, c.wantVar)
		}
		if err != nil && strings.Contains(err.Error(), "pw-secret") {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
	}
	if _, err := config.Load(env(map[string]string{"OAUTH_CALLBACK_REDIS_CLUSTER_ADDRS": "10.0.0.3:6379", "OAUTH_CALLBACK_REDIS_AUTH": "gcp", "OAUTH_CALLBACK_REDIS_TLS": "true"})); err != nil {
		t.Errorf("gcp over TLS: %v", err)
	}
	if _, err := config.Load(env(map[string]string{"OAUTH_CALLBACK_REDIS_URL": "rediss://10.0.0.3:6378", "OAUTH_CALLBACK_REDIS_AUTH": "gcp"})); err != nil {
		t.Errorf("gcp with a rediss:// URL: %v", err)
	}
}

// TestAPITokensWithAppsAndDigests: entries name their app or give a
// digest; a bad digest or one token given twice stops start-up without
// showing the token.
func TestAPITokensWithAppsAndDigests(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	c, err := config.Load(env(map[string]string{"OAUTH_CALLBACK_API_TOKENS": "mail=mail-token-0123456789,files=" + digest + ",plain-token-0123456789"}))
	if err != nil || strings.Join(apps.Names(c.HTTP.Apps), ",") != "default,files,mail" {
		t.Fatalf("%v, %v", c.HTTP.Apps, err)
	}
	if len(c.Store.AppShares) != 3 || c.Store.AppShares["mail"] != 1.0/3 {
		t.Errorf("three apps with no share set get a third of the budget each: %v", c.Store.AppShares)
	}
	for name, tokens := range map[string]string{
		"a short digest":         "files=sha256:abcd",
		"one token for two apps": "mail=same-token-0123456789,files=same-token-0123456789",
		"a token and its digest": "same-token-0123456789,files=sha256:" + hexSHA256("same-token-0123456789"),
	} {
		_, err := config.Load(env(map[string]string{"OAUTH_CALLBACK_API_TOKENS": tokens}))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), "same-token") {
			t.Errorf("%s: the error shows the token: %v", name, err)
		}
	}
}

func hexSHA256(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

// TestAppsFile: apps from a file, the tokens of API_TOKENS joining them;
// every problem of a bad file at once, exit 2 like a bad variable.
func TestAppsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apps.yaml")
	write := func(content string) {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("apps:\n  mail:\n    tokens: [sha256:" + hexSHA256("mail-token-0123456789") + "]\n    memory_share: 0.6\n    rate_limit_register: 30\n  files:\n    tokens: [files-token-0123456789]\n")
	c, err := config.Load(env(map[string]string{"OAUTH_CALLBACK_APPS_FILE": path, "OAUTH_CALLBACK_API_TOKENS": "mail=mail-next-0123456789"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.HTTP.Apps) != 2 || c.HTTP.Apps[1].Name != "mail" || len(c.HTTP.Apps[1].Digests) != 2 || c.HTTP.Apps[1].RateLimitRegister != 30 {
		t.Errorf("apps: %+v", c.HTTP.Apps)
	}
	if c.Store.AppShares["mail"] != 0.6 || math.Abs(c.Store.AppShares["files"]-0.4) > 1e-9 {
		t.Errorf("shares: %v", c.Store.AppShares)
	}

	write("apps:\n  mail:\n    tokens: [short]\n    memory_share: 2\n")
	_, err = config.Load(env(map[string]string{"OAUTH_CALLBACK_APPS_FILE": path}))
	if msg := fmt.Sprint(err); !strings.Contains(msg, "OAUTH_CALLBACK_APPS_FILE") || !strings.Contains(msg, "tokens[0]: every token must be at least 16") || !strings.Contains(msg, "memory_share: 2") {
		t.Errorf("a bad file: %v", err)
	}
	if _, err := config.Load(env(map[string]string{"OAUTH_CALLBACK_APPS_FILE": path + ".missing"})); err == nil {
		t.Error("a missing file was accepted")
	}
}

// Auto-pipelining is refused with Cluster, where go-redis's auto-pipeliner
// re-sends commands after a connection failure (the chaos run saw a take
// run twice), and accepted with one Redis or Sentinel.
func TestRedisAutoPipeline(t *testing.T) {
	for _, vars := range []map[string]string{
		{"OAUTH_CALLBACK_REDIS_URL": "redis://h:6379"},
		{"OAUTH_CALLBACK_REDIS_SENTINEL_ADDRS": "s1:26379", "OAUTH_CALLBACK_REDIS_SENTINEL_MASTER": "mymaster"},
	} {
		vars["OAUTH_CALLBACK_REDIS_AUTO_PIPELINE"] = "true"
		if c, err := config.Load(env(vars)); err != nil || !c.Redis.AutoPipeline {
			t.Errorf("auto-pipeline with %v: %v, %v", vars, c.Redis.AutoPipeline, err)
		}
	}
	_, err := config.Load(env(map[string]string{"OAUTH_CALLBACK_REDIS_CLUSTER_ADDRS": "n1:6379", "OAUTH_CALLBACK_REDIS_AUTO_PIPELINE": "true"}))
	if err == nil || !strings.Contains(err.Error(), "OAUTH_CALLBACK_REDIS_AUTO_PIPELINE") {
		t.Errorf("auto-pipeline with Cluster: %v, want an error naming OAUTH_CALLBACK_REDIS_AUTO_PIPELINE", err)
	}
}

// Issue 36, item 5: the long-polls a replica holds are derived from its
// memory limit here, once (the chart computed them again in template
// arithmetic, while the binary kept 10 000).
func TestMaxWaitersFollowTheMemoryLimit(t *testing.T) {
	redis := "redis://127.0.0.1:6379"
	tests := []struct {
		name string
		env  map[string]string
		want int
	}{
		{"no limit known: the default", nil, 10_000},
		{"384Mi on Redis, as the chart's default", map[string]string{"OAUTH_CALLBACK_MEMORY_LIMIT": "402653184", "OAUTH_CALLBACK_REDIS_URL": redis}, 10_276},
		{"the memory store's budget lives in the process", map[string]string{"OAUTH_CALLBACK_MEMORY_LIMIT": "402653184"}, 8_178},
		{"a larger budget leaves fewer", map[string]string{"OAUTH_CALLBACK_MEMORY_LIMIT": "402653184", "OAUTH_CALLBACK_MAX_MEMORY": "128MiB"}, 6_081},
		{"set, it wins", map[string]string{"OAUTH_CALLBACK_MEMORY_LIMIT": "402653184", "OAUTH_CALLBACK_MAX_WAITERS": "2500"}, 2_500},
		{"set to 0, none are held", map[string]string{"OAUTH_CALLBACK_MEMORY_LIMIT": "402653184", "OAUTH_CALLBACK_MAX_WAITERS": "0"}, 0},
		{"capped where the variable is", map[string]string{"OAUTH_CALLBACK_MEMORY_LIMIT": "1024GiB", "OAUTH_CALLBACK_REDIS_URL": redis}, 1_000_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.HTTP.LongPoll.MaxWaiters; got != tt.want {
				t.Errorf("MaxWaiters %d, want %d", got, tt.want)
			}
		})
	}
	_, err := config.Load(env(map[string]string{"OAUTH_CALLBACK_MEMORY_LIMIT": "96MiB"}))
	var cerr *config.Error
	if !errors.As(err, &cerr) || cerr.Var != "OAUTH_CALLBACK_MEMORY_LIMIT" || !strings.Contains(err.Error(), "lower OAUTH_CALLBACK_MAX_MEMORY") {
		t.Errorf("a limit with room for too few long-polls: %v", err)
	}
	if _, err := config.Load(env(map[string]string{"OAUTH_CALLBACK_MEMORY_LIMIT": "96MiB", "OAUTH_CALLBACK_MAX_WAITERS": "50"})); err != nil {
		t.Errorf("a small limit with MAX_WAITERS set: %v", err)
	}
}
