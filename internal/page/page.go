// Package page renders what a person sees after the identity provider
// redirects their browser: the callback page, and the page a sign-in link
// opens on. It is hardened the same way whatever the operator customises:
// html/template escaping, a strict Content-Security-Policy that allows only
// the page's own style and script (by hash) and no form (but the sign-in
// link's own), and headers that keep the page out of caches, referrers and
// frames.
package page

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

//go:embed templates/page.html templates/page.css templates/page.js
var embedded embed.FS

var (
	defaultTemplate = template.Must(template.ParseFS(embedded, "templates/page.html"))
	style           = mustRead("templates/page.css")
	script          = mustRead("templates/page.js")
)

// Kind selects the template: operators may give each its own.
type Kind int

const (
	Success Kind = iota // the callback was stored: success.html
	Failure             // provider error, bad input, store trouble: error.html
	Expired             // unknown or expired state: expired.html
	// Start is a sign-in link's page: a button that posts its form
	// (Content.Form). Always the built-in template: an operator's
	// template could leave the button out and break every sign-in link.
	Start
)

var templateFiles = map[Kind]string{Success: "success.html", Failure: "error.html", Expired: "expired.html"}

// Content is what one page says.
type Content struct {
	Kind             Kind
	Title            string
	Message          string
	Error            string // the provider's error code, escaped like everything else
	ErrorDescription string // shown only for registered states, cut to one short line
	// RequestID is on every error page, so that a person can quote it to
	// support and the operator can find the log line.
	RequestID string
	// ReturnURL, when set, is offered as a link back to the application
	// (a sign-in link's return_url, checked against the allowlist).
	ReturnURL string
	// Form is the button of a Start page.
	Form Form
}

// Form is a button that posts an empty form to the page's own address.
type Form struct {
	Button string // the button's label
}

// Config customises the pages (OAUTH_CALLBACK_TEMPLATES_DIR, _PRODUCT_NAME
// and _PAGE_CLOSE_AFTER); the zero Config is the built-in page.
type Config struct {
	// TemplatesDir holds success.html, error.html and expired.html
	// (html/template syntax, see docs/callback-page.md for their data). Empty: the
	// built-in page.
	TemplatesDir string
	// ProductName is shown above the heading and in the title.
	ProductName string
	// CloseAfter closes success pages by script after this long; 0 never.
	// Browsers close only windows that a script opened (a sign-in popup).
	CloseAfter time.Duration
}

// Renderer writes pages.
type Renderer struct {
	templates   map[Kind]*template.Template
	productName string
	closeAfter  time.Duration
	csp         []string
	formCSP     []string // Start pages': see WithFormTargets
	static      map[Content][]byte
}

// New returns a Renderer. It fails when a template is missing or does not
// parse or render.
func New(opts Config) (*Renderer, error) {
	r := &Renderer{
		templates:   map[Kind]*template.Template{},
		productName: opts.ProductName,
		closeAfter:  opts.CloseAfter,
		// Nothing but the page's own style and script may run or style it,
		// whatever a template contains.
		csp:     []string{policy("'none'")},
		formCSP: []string{policy("'self'")},
		static:  map[Content][]byte{},
	}
	r.templates[Start] = defaultTemplate
	for kind, file := range templateFiles {
		if opts.TemplatesDir == "" {
			r.templates[kind] = defaultTemplate
			continue
		}
		path := filepath.Join(opts.TemplatesDir, file)
		t, err := template.New(file).ParseFiles(path)
		if err != nil {
			return nil, fmt.Errorf("page template %s: %w", path, err)
		}
		r.templates[kind] = t
		// Render once now, so that a template that cannot render stops
		// start-up instead of failing a person's sign-in later.
		if _, err := r.render(Content{Kind: kind, Title: "t", Message: "m", Error: "e", ErrorDescription: "d", RequestID: "r", ReturnURL: "https://app.example/"}); err != nil {
			return nil, fmt.Errorf("page template %s: %w", path, err)
		}
	}
	return r, nil
}

// policy is the pages' Content-Security-Policy, forms allowed to post to
// formAction.
func policy(formAction string) string {
	return "default-src 'none'; style-src '" + cspHash(style) + "'; script-src '" + cspHash(script) +
		"'; base-uri 'none'; form-action " + formAction + "; frame-ancestors 'none'"
}

// WithFormTargets returns a copy of r whose Start pages may send their form
// to the page's own origin and to origins, "scheme://host" each (any port):
// Chromium enforces form-action on every redirect that follows a form's
// submission, so each origin the submission may be redirected to must be
// there. Every other page keeps form-action 'none'. Call it before the
// Renderer serves.
func (r *Renderer) WithFormTargets(origins ...string) (*Renderer, error) {
	sources := []string{"'self'"}
	for _, o := range origins {
		u, err := url.Parse(strings.ToLower(o))
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || !cspHost(u.Host) ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("form target %q: want scheme://host, the host of letters, digits, dots and dashes", o)
		}
		sources = append(sources, u.Scheme+"://"+u.Host+":*")
	}
	c := *r
	c.formCSP = []string{policy(strings.Join(sources, " "))}
	c.static = maps.Clone(r.static)
	return &c, nil
}

// cspHost: a host that a CSP host-source can name as it is (CSP3's
// host-char), so that nothing in it can end the directive.
func cspHost(h string) bool {
	if h == "" || strings.HasPrefix(h, ".") || strings.HasSuffix(h, ".") || strings.Contains(h, "..") {
		return false
	}
	for _, c := range h {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// Prerender renders the pages for contents once, for Write to send as they
// are: pages whose text never depends on the request. Call it before the
// Renderer serves.
func (r *Renderer) Prerender(contents ...Content) error {
	for _, c := range contents {
		b, err := r.render(c)
		if err != nil {
			return err
		}
		r.static[c] = b
	}
	return nil
}

// Write sends the page for c with status.
func (r *Renderer) Write(w http.ResponseWriter, status int, c Content) {
	body, ok := r.static[c]
	if !ok {
		var err error
		if body, err = r.render(c); err != nil {
			// Templates were rendered at start-up; the person still
			// deserves an answer.
			http.Error(w, "Sign-in could not be completed.", http.StatusInternalServerError)
			return
		}
	}
	h := w.Header()
	h["Content-Type"] = htmlContentType
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	h["Cache-Control"] = noStore
	h["Pragma"] = noCache
	h["Referrer-Policy"] = noReferrer
	h["X-Content-Type-Options"] = nosniff
	h["Content-Security-Policy"] = r.csp
	if c.Kind == Start {
		h["Content-Security-Policy"] = r.formCSP
	}
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		if h.Get("Retry-After") == "" {
			h["Retry-After"] = retryAfter
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Header values shared by every page: assigned directly (canonical keys),
// never modified.
var (
	htmlContentType = []string{"text/html; charset=utf-8"}
	noStore         = []string{"no-store"}
	noCache         = []string{"no-cache"}
	noReferrer      = []string{"no-referrer"}
	nosniff         = []string{"nosniff"}
	retryAfter      = []string{"2"}
)

// data is what templates see.
type data struct {
	Content
	Success      bool
	ProductName  string
	CloseAfterMS int64
	Style        template.CSS
	Script       template.JS
}

func (r *Renderer) render(c Content) ([]byte, error) {
	d := data{
		Content:     c,
		Success:     c.Kind == Success,
		ProductName: r.productName,
		// #nosec G203 -- the page's own embedded style and script, never
		// request data; the CSP allows exactly these by hash.
		Style:  template.CSS(style),
		Script: template.JS(script), // #nosec G203 -- as above
	}
	if c.Kind == Success {
		d.CloseAfterMS = r.closeAfter.Milliseconds()
	}
	var buf bytes.Buffer
	t := r.templates[c.Kind]
	var err error
	if t == defaultTemplate {
		err = t.Execute(&buf, d)
	} else {
		err = t.ExecuteTemplate(&buf, templateFiles[c.Kind], d)
	}
	return buf.Bytes(), err
}

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

func mustRead(name string) string {
	b, err := embedded.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}
