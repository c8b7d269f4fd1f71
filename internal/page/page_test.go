package page_test

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/page"
)

func write(t *testing.T, r *page.Renderer, c page.Content) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Write(rec, 200, c)
	return rec
}

func TestDefaultPage(t *testing.T) {
	r, err := page.New(page.Config{ProductName: "Contoso <Mail>", CloseAfter: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ok := write(t, r, page.Content{Kind: page.Success, Title: "Sign-in complete", Message: "Done."}).Body.String()
	for _, want := range []string{`<html lang="en">`, "<title>Sign-in complete – Contoso &lt;Mail&gt;</title>",
		`data-close-after-ms="3000"`, "This window closes by itself."} {
		if !strings.Contains(ok, want) {
			t.Errorf("success page lacks %q", want)
		}
	}
	if strings.Count(ok, "<h1") != 1 {
		t.Error("want exactly one heading")
	}
	fail := write(t, r, page.Content{Kind: page.Failure, Title: "Sign-in failed", Error: "access_denied"}).Body.String()
	if strings.Contains(fail, `data-close-after-ms="`) {
		t.Error("an error page closes itself: the person must be able to read it")
	}
}

func TestNoAutoCloseUnlessAsked(t *testing.T) {
	r, err := page.New(page.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if body := write(t, r, page.Content{Kind: page.Success, Title: "x"}).Body.String(); strings.Contains(body, `data-close-after-ms="`) {
		t.Error("closes itself by default")
	}
}

func TestOperatorTemplates(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"success.html": `<!DOCTYPE html><html lang="de"><title>{{.Title}}</title><style>{{.Style}}</style><h1>OK {{.ProductName}}</h1><script>{{.Script}}</script><script>alert("operator")</script>`,
		"error.html":   `<!DOCTYPE html><html lang="de"><h1>Fehler</h1><p>{{.Error}}: {{.ErrorDescription}}</p>`,
		"expired.html": `<!DOCTYPE html><html lang="de"><h1>Abgelaufen</h1><p>{{.Message}}</p>`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r, err := page.New(page.Config{TemplatesDir: dir, ProductName: "Contoso"})
	if err != nil {
		t.Fatal(err)
	}
	def, _ := page.New(page.Config{})
	rec := write(t, r, page.Content{Kind: page.Success, Title: "Angemeldet"})
	if !strings.Contains(rec.Body.String(), "<h1>OK Contoso</h1>") {
		t.Errorf("success: %s", rec.Body)
	}
	// The CSP is the built-in one: the operator's own inline script is not
	// allowed to run.
	if got, want := rec.Header().Get("Content-Security-Policy"), write(t, def, page.Content{}).Header().Get("Content-Security-Policy"); got != want {
		t.Errorf("CSP changed by templates:\n%s\n%s", got, want)
	}
	body := write(t, r, page.Content{Kind: page.Failure, Error: "<b>x</b>", ErrorDescription: "<img src=x>"}).Body.String()
	if !strings.Contains(body, "&lt;b&gt;x&lt;/b&gt;: &lt;img src=x&gt;") {
		t.Errorf("operator template output not escaped: %s", body)
	}
	if body := write(t, r, page.Content{Kind: page.Expired, Message: "weg"}).Body.String(); !strings.Contains(body, "Abgelaufen") {
		t.Errorf("expired: %s", body)
	}
}

func TestBadTemplatesStopStartup(t *testing.T) {
	missing := t.TempDir()
	if _, err := page.New(page.Config{TemplatesDir: missing}); err == nil {
		t.Error("no error for a directory without templates")
	}
	broken := t.TempDir()
	for _, name := range []string{"success.html", "error.html", "expired.html"} {
		_ = os.WriteFile(filepath.Join(broken, name), []byte(`<h1>{{.Title}}</h1>`), 0o600)
	}
	_ = os.WriteFile(filepath.Join(broken, "error.html"), []byte(`<h1>{{.NoSuchField}}</h1>`), 0o600)
	if _, err := page.New(page.Config{TemplatesDir: broken}); err == nil || !strings.Contains(err.Error(), "error.html") {
		t.Errorf("a template that cannot render: %v", err)
	}
}

func formAction(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	for d := range strings.SplitSeq(rec.Header().Get("Content-Security-Policy"), ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(d), "form-action "); ok {
			return v
		}
	}
	t.Fatalf("no form-action in %q", rec.Header().Get("Content-Security-Policy"))
	return ""
}

var linkPage = page.Content{Kind: page.Start, Title: "Continue", Message: "Go on.", Form: page.Form{Button: "Continue <now>"}}

// A sign-in link's page: a button that posts to the page's own address,
// and a form-action that lets it (and the redirects after it) through,
// while every other page keeps form-action 'none'.
func TestStartPage(t *testing.T) {
	base, err := page.New(page.Config{ProductName: "Contoso"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := base.WithFormTargets("https://login.example.com", "http://127.0.0.1", "HTTPS://Login.Example.NET")
	if err != nil {
		t.Fatal(err)
	}
	rec := write(t, r, linkPage)
	body := rec.Body.String()
	for _, want := range []string{`<form method="post">`, `<button type="submit" autofocus>Continue &lt;now&gt;</button>`, `<main class="start">`, "Contoso"} {
		if !strings.Contains(body, want) {
			t.Errorf("start page lacks %q: %s", want, body)
		}
	}
	if got, want := formAction(t, rec), "'self' https://login.example.com:* http://127.0.0.1:* https://login.example.net:*"; got != want {
		t.Errorf("start page: form-action %s, want %s", got, want)
	}
	for _, k := range []page.Kind{page.Success, page.Failure, page.Expired} {
		for name, rr := range map[string]*page.Renderer{"with form targets": r, "without": base} {
			if got := formAction(t, write(t, rr, page.Content{Kind: k, Title: "x"})); got != "'none'" {
				t.Errorf("kind %d, %s: form-action %s, want 'none'", k, name, got)
			}
		}
	}
	// Without targets the form may post to its own page only.
	if got := formAction(t, write(t, base, linkPage)); got != "'self'" {
		t.Errorf("start page without targets: form-action %s", got)
	}
	if other := write(t, base, page.Content{Kind: page.Failure, Title: "x"}).Body.String(); strings.Contains(other, "<form") {
		t.Error("a page without a Form has a form")
	}
}

// The operator's templates cannot replace the link's page: one without
// the button would break every sign-in link.
func TestStartPageIgnoresOperatorTemplates(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"success.html", "error.html", "expired.html"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(`<h1>from the operator: {{.Title}}</h1>`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r, err := page.New(page.Config{TemplatesDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if body := write(t, r, linkPage).Body.String(); strings.Contains(body, "from the operator") || !strings.Contains(body, "<form method=\"post\">") {
		t.Errorf("start page with operator templates: %s", body)
	}
}

// A form target goes into the CSP as it is: nothing in it may end the
// directive or widen it.
func TestFormTargetsRefuseWhatIsNotAnOrigin(t *testing.T) {
	r, err := page.New(page.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"login.example.com",                       // no scheme
		"https://login.example.com; script-src *", // a second directive
		"https://login.example.com/path",
		"https://login.example.com:8443", // any port is added; none given
		"https://*.example.com",
		"https://user@login.example.com",
		"ftp://login.example.com",
		"https://login_example.com",
		"https://",
		"https://login..example.com",
		"'unsafe-inline'",
	} {
		if _, err := r.WithFormTargets(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
