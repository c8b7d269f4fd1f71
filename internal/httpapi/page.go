package httpapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"strconv"
)

//go:embed templates/page.html templates/page.css templates/page.js
var templateFS embed.FS

var (
	pageTemplate = template.Must(template.ParseFS(templateFS, "templates/page.html"))
	pageStyle    = mustRead("templates/page.css")
	pageScript   = mustRead("templates/page.js")

	// The page's only style and script are allowed by their hashes: nothing
	// else, injected or not, can run or style it.
	contentSecurityPolicy = "default-src 'none'; style-src '" + cspHash(pageStyle) + "'; script-src '" + cspHash(pageScript) +
		"'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

// page is what the person in the browser sees after the redirect.
type page struct {
	Title            string
	Message          string
	Error            string // the provider's error, escaped by html/template
	ErrorDescription string
	Success          bool
}

// staticPages are rendered once: the pages whose text never depends on the
// request. Every other page (provider errors, reasons for a 400) is
// rendered per request. The set is fixed, so it cannot grow.
var staticPages = func() map[page][]byte {
	pages := []page{successPage}
	for _, o := range append(storeOutcomes, internalOutcome) {
		pages = append(pages, page{Title: o.pageTitle, Message: o.pageText})
	}
	m := make(map[page][]byte, len(pages))
	for _, p := range pages {
		b, err := render(p)
		if err != nil {
			panic(err)
		}
		m[p] = b
	}
	return m
}()

var successPage = page{
	Title:   "Sign-in complete",
	Message: "You are signed in. You can close this window and return to your application.",
	Success: true,
}

// writePage sends p with the headers that keep it, and the code in its
// URL, out of caches, referrers, frames and other origins' scripts.
func writePage(w http.ResponseWriter, status int, p page) {
	body, ok := staticPages[p]
	if !ok {
		var err error
		if body, err = render(p); err != nil {
			// The template is compiled in and its data are strings: this is
			// a programming error, and the person still deserves an answer.
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
	h["Content-Security-Policy"] = pageCSP
	if status == http.StatusServiceUnavailable {
		h["Retry-After"] = retryAfter
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func render(p page) ([]byte, error) {
	var buf bytes.Buffer
	err := pageTemplate.Execute(&buf, struct {
		page
		Style  template.CSS
		Script template.JS
	}{p,
		// #nosec G203 -- the page's own embedded style and script, never
		// request data; the CSP allows exactly these by hash.
		template.CSS(pageStyle), template.JS(pageScript)})
	return buf.Bytes(), err
}

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

func mustRead(name string) string {
	b, err := templateFS.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}
