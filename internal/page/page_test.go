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
