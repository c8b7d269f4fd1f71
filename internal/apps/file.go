package apps

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"go.yaml.in/yaml/v3"
)

// fileApp is one app in OAUTH_CALLBACK_APPS_FILE.
type fileApp struct {
	Tokens            []string `yaml:"tokens"`
	MemoryShare       float64  `yaml:"memory_share"`
	RateLimitAPI      int      `yaml:"rate_limit_api"`
	RateLimitRegister int      `yaml:"rate_limit_register"`
}

// ReadFile reads OAUTH_CALLBACK_APPS_FILE, YAML or JSON (a JSON document is
// YAML):
//
//	apps:
//	  mail:
//	    tokens: ["sha256:9f86d0…", "a-token-of-16-or-more"]
//	    memory_share: 0.5         # optional, of OAUTH_CALLBACK_MAX_MEMORY
//	    rate_limit_api: 600       # optional, per minute per token
//	    rate_limit_register: 60   # optional
//	  files:
//	    tokens: ["sha256:60303ae2…"]
//
// It returns every problem at once, each naming its place in the file; an
// unknown field is one (a misspelt limit must not pass for no limit).
func ReadFile(path string) ([]App, []error) {
	raw, err := os.ReadFile(path) // #nosec G304 -- the operator names the file (OAUTH_CALLBACK_APPS_FILE)
	if err != nil {
		return nil, []error{err}
	}
	var doc struct {
		Apps map[string]fileApp `yaml:"apps"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		var typeErr *yaml.TypeError
		if errors.As(err, &typeErr) {
			var errs []error
			for _, e := range typeErr.Errors {
				errs = append(errs, errors.New(e))
			}
			return nil, errs
		}
		if errors.Is(err, io.EOF) {
			return nil, []error{errors.New("the file is empty: it must list apps (apps: {name: {tokens: [...]}})")}
		}
		return nil, []error{err}
	}
	if len(doc.Apps) == 0 {
		return nil, []error{errors.New("no apps: the file must list apps (apps: {name: {tokens: [...]}})")}
	}
	var (
		apps []App
		errs []error
	)
	names := make([]string, 0, len(doc.Apps))
	for name := range doc.Apps {
		names = append(names, name)
	}
	slices.Sort(names) // problems in a stable order
	for _, name := range names {
		f := doc.Apps[name]
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("apps.%s: "+format, append([]any{name}, args...)...))
		}
		if !ValidName(name) {
			fail("an app's name is lowercase letters, digits, - and _ (up to 32, starting with a letter)")
		}
		a := App{Name: name, MemoryShare: f.MemoryShare, RateLimitAPI: f.RateLimitAPI, RateLimitRegister: f.RateLimitRegister}
		if len(f.Tokens) == 0 {
			fail("tokens: an app needs at least one token")
		}
		for i, token := range f.Tokens {
			digest, err := TokenDigest(token)
			if err != nil {
				fail("tokens[%d]: %v", i, err)
				continue
			}
			a.Digests = append(a.Digests, digest)
		}
		if f.MemoryShare < 0 || f.MemoryShare > 1 {
			fail("memory_share: %v is not a share of the budget: give a number above 0 and at most 1 (0.25 is a quarter)", f.MemoryShare)
		}
		for _, limit := range []struct {
			field string
			n     int
		}{{"rate_limit_api", f.RateLimitAPI}, {"rate_limit_register", f.RateLimitRegister}} {
			if limit.n < 0 || limit.n > 1_000_000 {
				fail("%s: %d requests per minute is out of range (1..1000000; leave it out for the service's)", limit.field, limit.n)
			}
		}
		apps = append(apps, a)
	}
	return apps, errs
}
