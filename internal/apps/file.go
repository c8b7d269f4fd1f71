package apps

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The fields of the file, in the order messages list them.
var (
	fileFields = []string{"apps"}
	appFields  = []string{"tokens", "memory_share", "rate_limit_api", "rate_limit_register"}
)

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
// It returns every problem at once, each as "line N: apps.mail.tokens: …":
// its place and what was expected, never the value found, which may be a
// token in the wrong place (the file is a Secret; its problems reach logs).
// An unknown field is one: a misspelt limit must not pass for no limit.
func ReadFile(path string) ([]App, []error) {
	raw, err := os.ReadFile(path) // #nosec G304 -- the operator names the file (OAUTH_CALLBACK_APPS_FILE)
	if err != nil {
		return nil, []error{err}
	}
	return parseFile(raw)
}

var (
	errEmptyFile = errors.New("the file is empty: it must list apps (apps: {name: {tokens: [...]}})")
	errNoApps    = errors.New("no apps: the file must list apps (apps: {name: {tokens: [...]}})")
)

// parseFile reads the file into a yaml.Node and checks it field by field,
// rather than decoding into a struct, so that every message is this
// package's: the YAML library's own quote what they could not decode.
func parseFile(raw []byte) ([]App, []error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, []error{errEmptyFile}
		}
		return nil, []error{syntaxError(err)}
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, []error{syntaxError(err)}
	case len(next.Content) > 0 && !isNull(next.Content[0]):
		// A second document would be ignored: apps the operator sees in the
		// file and the service never serves.
		return nil, []error{fmt.Errorf("line %d: a second document (after ---): the file is one document, apps: {...}", next.Line)}
	}
	var r fileReader
	apps := r.file(&doc)
	return apps, r.problems
}

// syntaxError says where the file stops being YAML. The parser's messages
// (yaml.v3 3.0.5) are fixed texts but one, which names an alias: a token
// written unquoted with a leading * reads as one. TestReadFileNeverShowsAToken
// holds this to each way a token can break the syntax.
func syntaxError(err error) error {
	if strings.Contains(err.Error(), "unknown anchor") {
		return errors.New("not YAML or JSON: an alias (*name) refers to no anchor (&name); a token that starts with * or & must be quoted")
	}
	return fmt.Errorf("not YAML or JSON: %w", err)
}

// fileReader gathers the problems of one file as it reads it.
type fileReader struct {
	problems []error
}

// fail records a problem at node n, whose place in the file is path ("" for
// the file as a whole). format and args must never carry a value from the
// file other than through shown and display.
func (r *fileReader) fail(n *yaml.Node, path, format string, args ...any) {
	where := fmt.Sprintf("line %d: ", n.Line)
	if path != "" {
		where += path + ": "
	}
	r.problems = append(r.problems, fmt.Errorf("%s%w", where, fmt.Errorf(format, args...)))
}

func (r *fileReader) file(doc *yaml.Node) []App {
	if len(doc.Content) == 0 || isNull(deref(doc.Content[0])) {
		r.problems = append(r.problems, errEmptyFile)
		return nil
	}
	top := deref(doc.Content[0])
	if top.Kind != yaml.MappingNode {
		r.fail(top, "", "the file is a mapping, apps: {name: {tokens: [...]}}, not %s", describe(top))
		return nil
	}
	var appsNode *yaml.Node
	for _, e := range r.entries(top, "") {
		switch {
		case e.name != "apps":
			r.unknownField(e, "", fileFields, "the file has one field, apps")
		case e.first != nil:
			r.fail(e.key, "apps", "given twice (first on line %d)", e.first.Line)
		default:
			appsNode = e.value
		}
	}
	if appsNode == nil || isNull(appsNode) {
		r.problems = append(r.problems, errNoApps)
		return nil
	}
	if appsNode.Kind != yaml.MappingNode {
		r.fail(appsNode, "apps", "a mapping of app names to apps is expected (apps: {mail: {tokens: [...]}}), not %s", describe(appsNode))
		return nil
	}
	var apps []App
	for i, e := range r.entries(appsNode, "apps") {
		if a, ok := r.app(i, e); ok {
			apps = append(apps, a)
		}
	}
	if len(apps) == 0 && len(r.problems) == 0 {
		r.problems = append(r.problems, errNoApps)
	}
	return apps
}

// app reads the i-th entry of apps.
func (r *fileReader) app(i int, e entry) (App, bool) {
	path := fmt.Sprintf("apps[%d]", i)
	if e.key.Kind != yaml.ScalarNode {
		r.fail(e.key, path, "an app's name is expected, not %s", describe(e.key))
		return App{}, false
	}
	// A valid name is the app's name in every log line anyway; another is
	// shown only if it is too short to be a token put in the wrong place.
	if ValidName(e.name) || len(e.name) < minTokenLen {
		path = "apps." + display(e.name)
	}
	if !ValidName(e.name) {
		r.fail(e.key, path, "an app's name is lowercase letters, digits, - and _ (up to 32, starting with a letter)")
	}
	if e.first != nil {
		r.fail(e.key, path, "given twice (first on line %d)", e.first.Line)
		return App{}, false
	}
	a := App{Name: e.name}
	if isNull(e.value) {
		r.fail(e.key, path, "an app needs at least one token (tokens: [...])")
		return a, true
	}
	if e.value.Kind != yaml.MappingNode {
		r.fail(e.value, path, "an app is a mapping (tokens: [...] and optional %s), not %s", strings.Join(appFields[1:], ", "), describe(e.value))
		return a, true
	}
	hasTokens := false
	for _, f := range r.entries(e.value, path) {
		if !slices.Contains(appFields, f.name) {
			r.unknownField(f, path, appFields, "an app has "+listed(appFields))
			continue
		}
		fieldPath := path + "." + f.name
		if f.first != nil {
			r.fail(f.key, fieldPath, "given twice (first on line %d)", f.first.Line)
			continue
		}
		switch f.name {
		case "tokens":
			hasTokens = true
			a.Digests = r.tokens(f, fieldPath)
		case "memory_share":
			a.MemoryShare = r.memoryShare(f.value, fieldPath)
		case "rate_limit_api":
			a.RateLimitAPI = r.rateLimit(f.value, fieldPath)
		case "rate_limit_register":
			a.RateLimitRegister = r.rateLimit(f.value, fieldPath)
		}
	}
	if !hasTokens {
		r.fail(e.key, path, "an app needs at least one token (tokens: [...])")
	}
	return a, true
}

// tokens reads an app's tokens, a list. No message shows a token's text,
// not even of one refused: a token cut short is still most of a token.
func (r *fileReader) tokens(f entry, path string) [][sha256.Size]byte {
	list := f.value
	if isNull(list) {
		r.fail(f.key, path, "an app needs at least one token")
		return nil
	}
	if list.Kind != yaml.SequenceNode {
		r.fail(list, path, `a list of tokens is expected, not %s: write tokens: ["<token>"], even for one`, describe(list))
		return nil
	}
	if len(list.Content) == 0 {
		r.fail(list, path, "an app needs at least one token")
		return nil
	}
	var digests [][sha256.Size]byte
	for i, item := range list.Content {
		item = deref(item)
		itemPath := fmt.Sprintf("%s[%d]", path, i)
		if item.Kind != yaml.ScalarNode || isNull(item) {
			r.fail(item, itemPath, "a token (or sha256:<hex>) is expected, not %s", describe(item))
			continue
		}
		digest, err := TokenDigest(item.Value)
		if err != nil {
			r.fail(item, itemPath, "%w", err)
			continue
		}
		digests = append(digests, digest)
	}
	return digests
}

// memoryShare reads a share of the budget: above 0 and at most 1, or 0
// (and null) for none given, as before. NaN and the infinities are
// refused by name: NaN fails every comparison, and so passed them once.
func (r *fileReader) memoryShare(n *yaml.Node, path string) float64 {
	const want = "give a number above 0 and at most 1 (0.25 is a quarter), or leave it out for an equal part of what the others leave"
	if isNull(n) {
		return 0
	}
	var share float64
	if !isNumber(n) || n.Decode(&share) != nil {
		r.fail(n, path, "a number is expected, not %s: %s", describe(n), want)
		return 0
	}
	if math.IsNaN(share) || math.IsInf(share, 0) || share < 0 || share > 1 {
		r.fail(n, path, "%s is not a share of the budget: %s", shown(n), want)
		return 0
	}
	return share
}

// rateLimit reads an app's limit in requests per minute, 0 (and null) for
// the service's. A whole number written as a float (600.0) is one.
func (r *fileReader) rateLimit(n *yaml.Node, path string) int {
	const want = "give a whole number of requests per minute, 1..1000000, or leave it out for the service's"
	if isNull(n) {
		return 0
	}
	var limit float64
	if !isNumber(n) || n.Decode(&limit) != nil {
		r.fail(n, path, "a number is expected, not %s: %s", describe(n), want)
		return 0
	}
	if math.IsNaN(limit) || limit != math.Trunc(limit) || limit < 0 || limit > 1_000_000 {
		r.fail(n, path, "%s is out of range: %s", shown(n), want)
		return 0
	}
	return int(limit)
}

// unknownField reports a field not in fields, under path. Its name is
// shown when it is a misspelling of one of them, or too short to be a
// token put in the wrong place; has says what the mapping may hold.
func (r *fileReader) unknownField(e entry, path string, fields []string, has string) {
	if e.key.Kind != yaml.ScalarNode {
		r.fail(e.key, path, "a field name is expected, not %s (%s)", describe(e.key), has)
		return
	}
	fieldPath := display(e.name)
	if path != "" {
		fieldPath = path + "." + fieldPath
	}
	if guess := didYouMean(e.name, fields); guess != "" {
		r.fail(e.key, fieldPath, "unknown field, did you mean %s?", guess)
		return
	}
	if len(e.name) < minTokenLen {
		r.fail(e.key, fieldPath, "unknown field (%s)", has)
		return
	}
	r.fail(e.key, path, "an unknown field (%s)", has)
}
