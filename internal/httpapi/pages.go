package httpapi

import (
	"fmt"

	"github.com/oauth-callback-server/oauth-callback-server/internal/page"
)

// The pages of a callback that was stored (a sign-in, an admin consent, an
// error the provider reported); what a refused request's page says is in
// errors.go's table.

// builtinPages is the built-in callback page, which needs no check.
func builtinPages() *page.Renderer {
	r, err := page.New(page.Config{})
	if err != nil {
		panic(fmt.Sprintf("httpapi: built-in callback page: %v", err))
	}
	return r
}

var successPage = page.Content{
	Kind:    page.Success,
	Title:   "Sign-in complete",
	Message: "You are signed in. You can close this window and return to your application.",
}

// adminConsentPage is the success page of Entra ID's admin consent: an
// administrator granted the application its permissions for the whole
// organisation; nobody was signed in.
var adminConsentPage = page.Content{
	Kind:    page.Success,
	Title:   "Consent recorded",
	Message: "Your organisation's consent for this application was recorded. You can close this window and return to your application.",
}

// maxShownDescription bounds the provider's error_description on the page,
// and only a registered state's is shown at all.
const maxShownDescription = 300

// shownDescription is error_description as the page may show it: one line,
// at most maxShownDescription characters.
func shownDescription(d string) string {
	runes := []rune(d)
	for i, c := range runes {
		if c < ' ' || c == 0x7f || c == '\u2028' || c == '\u2029' {
			runes[i] = ' '
		}
	}
	if len(runes) > maxShownDescription {
		runes = append(runes[:maxShownDescription-1], '…')
	}
	return string(runes)
}
