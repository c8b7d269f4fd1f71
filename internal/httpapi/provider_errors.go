package httpapi

import "github.com/oauth-callback-server/oauth-callback-server/internal/page"

// providerErrorText is what the page says for each error code an identity
// provider may send: RFC 6749 §4.1.2.1 and OpenID Connect Core §3.1.2.6.
// The page shows only these fixed sentences and the code itself, never
// text from the request, so that nobody can make the operator's domain
// show a message of their choosing (a phishing page). Any other code gets
// genericProviderError, and the code is not shown.
var providerErrorText = map[string]string{
	// RFC 6749
	"invalid_request":           "The sign-in request was not valid. Start again from your application; if it happens again, tell its administrator.",
	"unauthorized_client":       "This application is not allowed to ask for sign-in this way. Tell its administrator.",
	"access_denied":             "The sign-in was cancelled, or access was not granted.",
	"unsupported_response_type": "The sign-in provider does not support how this application asked. Tell its administrator.",
	"invalid_scope":             "The application asked for access that the sign-in provider does not know. Tell its administrator.",
	"server_error":              "The sign-in provider had a problem. Try again in a few minutes.",
	"temporarily_unavailable":   "The sign-in provider is busy or down for maintenance. Try again in a few minutes.",
	// OpenID Connect
	"interaction_required":       "The sign-in provider needs you to sign in again. Start again from your application.",
	"login_required":             "You need to sign in. Start again from your application.",
	"account_selection_required": "Choose an account to sign in with. Start again from your application.",
	"consent_required":           "The application needs your consent. Start again from your application and accept the request.",
	"invalid_request_uri":        "The sign-in request was not valid. Tell the application's administrator.",
	"invalid_request_object":     "The sign-in request was not valid. Tell the application's administrator.",
	"request_not_supported":      "The sign-in provider does not support this kind of request. Tell the application's administrator.",
	"request_uri_not_supported":  "The sign-in provider does not support this kind of request. Tell the application's administrator.",
	"registration_not_supported": "The sign-in provider does not support this kind of request. Tell the application's administrator.",
}

const genericProviderError = "The sign-in provider reported an error. Start again from your application; if it happens again, tell its administrator."

// cancelledText is what the page says when the person pressed Cancel at the
// provider: Microsoft Entra ID sends access_denied with error_subcode=cancel.
const cancelledText = "You cancelled the sign-in, so nothing was shared with the application. If you want to sign in, start again from your application."

// cancelled reports whether an error callback is the person pressing
// Cancel (Entra ID's error_subcode=cancel on access_denied).
func cancelled(code, subcode string) bool { return code == "access_denied" && subcode == "cancel" }

// providerErrorPage is what the page says of an error callback: the fixed
// text and, for a known code, the code.
func providerErrorPage(code, subcode string) page.Content {
	p := page.Content{Kind: page.Failure, Title: "Sign-in failed"}
	if cancelled(code, subcode) {
		p.Title = "Sign-in cancelled"
	}
	p.Message, p.Error = providerError(code, subcode)
	return p
}

// providerError is what the page shows of an error callback: the fixed
// text and, for a known code, the code.
func providerError(code, subcode string) (text, shownCode string) {
	if cancelled(code, subcode) {
		return cancelledText, code
	}
	if t, ok := providerErrorText[code]; ok {
		return t, code
	}
	return genericProviderError, ""
}
