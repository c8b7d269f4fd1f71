package httpapi

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"html/template"
	"net/http"
	"strconv"
)

//go:embed templates/page.html
var templateFS embed.FS

var pageTemplate = template.Must(template.ParseFS(templateFS, "templates/page.html"))

// page is what the person in the browser sees after the redirect.
type page struct {
	Title            string
	Message          string
	Error            string // the provider's error, escaped by html/template
	ErrorDescription string
	Success          bool
	Nonce            string
}

// writePage renders p with the headers that keep it, and the code in its
// URL, out of caches, referrers, frames and other origins' scripts.
func writePage(w http.ResponseWriter, status int, p page) {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	p.Nonce = hex.EncodeToString(nonce[:])

	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, p); err != nil {
		// The template is compiled in and its data are strings: this is
		// a programming error, and the person still deserves an answer.
		http.Error(w, "Sign-in could not be completed.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+p.Nonce+"'; script-src 'nonce-"+p.Nonce+
		"'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "2")
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
