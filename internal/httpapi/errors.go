package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/page"
)

// Every refusal is an error value, and writeError is the one exit that
// answers it (benbjohnson/wtf's http.Error): errorOutcomes below is the only
// place that knows an error's status, JSON reason and message, page, log
// outcome and WARN line, callbacks metric outcome and Retry-After.
// Handlers pass the error on; none picks a status. The rows are the
// store's errors (package callback) and the request's own, below; any
// other error is internalError.

// The request's own errors, beside the store's. A handler passes one bare,
// or with a message for the person through refused or badRequest.
var (
	errInvalid          = errors.New("invalid request")
	errTooLarge         = errors.New("request too large")
	errURITooLong       = errors.New("request URI too long")
	errUnsupportedMedia = errors.New("unsupported media type")
	errTokenMissing     = errors.New("missing API token")
	errTokenInvalid     = errors.New("invalid API token")
	errRateLimited      = errors.New("too many requests")
	errNoRoute          = errors.New("no such route")
	errMethodNotAllowed = errors.New("method not allowed")
	errLinkUnknown      = errors.New("sign-in link unknown, expired, used or cancelled")
	errLinkElsewhere    = errors.New("sign-in link opened in another browser")
	errLinkCrossSite    = errors.New("sign-in link posted from another site")
)

// requestError is a refused request: the row that answers it (kind), and
// a message a person understands, which never quotes what the request
// sent.
type requestError struct {
	kind    error
	message string
}

func (e *requestError) Error() string { return e.message }
func (e *requestError) Unwrap() error { return e.kind }

// refusedErrorCallback is an error callback that broke a rule (Entra's
// cancel comes without state): its page still tells the person what the
// provider said, in fixed words.
type refusedErrorCallback struct {
	error
	code, subcode string
}

func (e refusedErrorCallback) Unwrap() error { return e.error }

// refused is a request refused as kind, with its message.
func refused(kind error, format string, args ...any) error {
	return &requestError{kind: kind, message: fmt.Sprintf(format, args...)}
}

// badRequest is the usual refusal: the request broke a rule (errInvalid).
func badRequest(format string, args ...any) error { return refused(errInvalid, format, args...) }

// errorOutcome is how one error is answered.
type errorOutcome struct {
	err        error // the row answers every error that errors.Is this
	status     int   // the JSON answer's, and the page's unless pageStatus
	pageStatus int   // the page's, when it differs from status
	reason     string
	message    string // JSON; a requestError's own replaces it
	outcome    string // the request log's name for it
	// callbackOutcome is the callbacks metric's name for it, and the
	// request log's on a callback; "" for what a callback never meets.
	callbackOutcome string
	// What the person in the browser reads, on the routes a browser opens;
	// a requestError's message comes first. Without a page, JSON on every
	// route: the router's own answers (404, 405) are no sign-in's.
	pageTitle, pageText string
	logError            bool   // the error's detail goes on the request's log line
	warning             string // a WARN line of its own (warn says when)
	retryAfter          string // seconds; a rate limiter's own count, when it gave one, stands
	wwwAuthenticate     string // RFC 6750: how to authenticate
}

// Retry-After values: a store that is full frees up as callbacks expire or
// are taken, and rate limits count per minute (a minute); every other 503
// is worth trying again soon.
const (
	retryAfterFull = "60"
	retryAfterSoon = "2"
)

// Page texts more than one row shows.
const (
	expiredText     = "This sign-in link is unknown or has expired. Start again from your application."
	notValidTitle   = "This sign-in response is not valid"
	nothingStored   = "Nothing was stored. Start again from your application."
	notCompleteText = "Sign-in could not be completed"
)

// errorOutcomes is the ONE table from errors to HTTP answers. The first
// two messages are the original service's, word for word.
var errorOutcomes = []errorOutcome{
	// The store's errors.
	{err: callback.ErrNotFound, status: http.StatusNotFound, reason: "not_found", message: "Callback not found or expired",
		outcome: "not_found", callbackOutcome: "not_found",
		pageTitle: "Sign-in link expired", pageText: expiredText},
	{err: callback.ErrAlreadyTaken, status: http.StatusGone, reason: "already_retrieved", message: "Callback already retrieved",
		outcome: "already_taken", callbackOutcome: "already_taken",
		pageTitle: "Sign-in already completed", pageText: "Your application already received this sign-in. You can close this window."},
	// On the API only a registration meets it: the state is registered or
	// used already.
	{err: callback.ErrExists, status: http.StatusConflict, reason: "duplicate", message: "State already registered or used",
		outcome: "duplicate", callbackOutcome: "duplicate",
		pageTitle: "Sign-in already received", pageText: "This sign-in was already received; nothing was changed. You can close this window and return to your application."},
	// The take answers 410, so that the field client stops polling.
	{err: callback.ErrConflict, status: http.StatusGone, pageStatus: http.StatusConflict, reason: "conflict",
		message: "Conflicting callbacks received for this state; start the sign-in again", outcome: "conflict", callbackOutcome: "conflict",
		pageTitle: "Sign-in interrupted", pageText: "A second, different response arrived for this sign-in, so it was stopped to keep your account safe. Close this window and start the sign-in again from your application.",
		warning: "conflicting callbacks for one state: someone else may have sent one; nobody gets either code"},
	{err: callback.ErrConflictAfterTake, status: http.StatusConflict, reason: "conflict",
		message: "A different callback arrived after this state's callback was retrieved", outcome: "conflict", callbackOutcome: "conflict",
		pageTitle: "Sign-in link already used", pageText: "This sign-in was already completed with another response; this one was not used. If you did not just sign in, tell your administrator and quote the request ID below.",
		warning: "conflicting callbacks for one state: someone else may have sent one; nobody gets either code"},
	{err: callback.ErrCancelled, status: http.StatusGone, reason: "cancelled", message: "Sign-in cancelled",
		outcome: "cancelled", callbackOutcome: "cancelled",
		pageTitle: "Sign-in cancelled", pageText: "Your application cancelled this sign-in, so this response was not used. If you still want to sign in, start again from your application."},
	// A sign-in link's callback from a browser that did not open the link:
	// a forwarded authorization URL, or login CSRF.
	{err: callback.ErrUnbound, status: http.StatusForbidden, reason: "unbound", message: "Sign-in not started in this browser",
		outcome: "unbound", callbackOutcome: "unbound",
		pageTitle: "Sign-in not started in this browser", pageText: "This sign-in was not started in this browser, so it was not accepted and nothing was stored. Start again from your application, and finish the sign-in in the browser it opens.",
		warning: "a sign-in link's callback came from a browser that did not open the link: a forwarded link, or login CSRF; nothing stored"},
	// A sign-in link that ended with no callback: the take answers 410, so
	// that a waiting MCP server stops; the browser that opened it is told
	// to start again (any other browser gets ErrUnbound's page).
	{err: callback.ErrLinkExpired, status: http.StatusGone, reason: "link_expired", message: "Sign-in link expired; start the sign-in again",
		outcome: "link_expired", callbackOutcome: "link_expired",
		pageTitle: "Sign-in link expired", pageText: "This sign-in link expired before the sign-in finished, so this response was not used. Start again from your application."},
	{err: callback.ErrFull, status: http.StatusServiceUnavailable, reason: "store_full", message: "Callback store is full, retry later",
		outcome: "store_full", callbackOutcome: "store_full", retryAfter: retryAfterFull,
		pageTitle: notCompleteText, pageText: "The service is busy right now. Try again in a minute: go back to your application and start the sign-in again.",
		warning: "the callback store is full: "},
	{err: callback.ErrUnavailable, status: http.StatusServiceUnavailable, reason: "store_unavailable", message: "Callback store unavailable, retry later",
		outcome: "store_unavailable", callbackOutcome: "store_unavailable", logError: true, retryAfter: retryAfterSoon,
		pageTitle: notCompleteText, pageText: "The service is temporarily unavailable. Go back to your application and sign in again."},
	{err: callback.ErrNotReplicated, status: http.StatusServiceUnavailable, reason: "not_replicated", message: "Callback not acknowledged by enough replicas, retry",
		outcome: "not_replicated", callbackOutcome: "not_replicated", logError: true, retryAfter: retryAfterSoon,
		pageTitle: "Sign-in could not be saved", pageText: "Your sign-in could not be saved safely. Go back to your application and sign in again."},
	{err: callback.ErrNotRegistered, status: http.StatusNotFound, reason: "not_registered", message: "State not registered or registration expired",
		outcome: "not_registered", callbackOutcome: "not_registered",
		pageTitle: "Sign-in link expired", pageText: expiredText},
	// RFC 9207: the callback names another authorization server than the
	// registration: a mix-up attack, or a sign-in at the wrong tenant.
	// Nothing stored; the state still waits for the real callback.
	{err: callback.ErrIssuerMismatch, status: http.StatusBadRequest, reason: "issuer_mismatch", message: "Callback from another issuer than the registration named",
		outcome: "issuer_mismatch", callbackOutcome: "issuer_mismatch",
		pageTitle: "Sign-in response from the wrong provider", pageText: "This sign-in response did not come from the sign-in provider your application expected, so it was not used and nothing was stored. Start again from your application; if this happens again, tell its administrator and quote the request ID below.",
		warning: "a callback named another issuer than its state's registration: a mix-up attack, or a sign-in at the wrong tenant; nothing stored, the state still waits"},
	// Written under another encryption key, or corrupted: to the client it
	// is simply gone (never a 5xx); the operator gets the detail.
	{err: callback.ErrUnreadable, status: http.StatusNotFound, reason: "not_found", message: "Callback not found or expired",
		outcome: "unreadable", callbackOutcome: "unreadable", logError: true,
		pageTitle: "Sign-in link expired", pageText: expiredText},

	// The request's own. Bad input on a callback is "invalid" to the
	// metric, however it was bad.
	{err: errInvalid, status: http.StatusBadRequest, reason: "invalid_request", message: "Invalid request",
		outcome: "invalid_request", callbackOutcome: outcomeInvalid,
		pageTitle: notValidTitle, pageText: nothingStored},
	{err: errTooLarge, status: http.StatusRequestEntityTooLarge, reason: "too_large", message: "Request too large",
		outcome: "too_large", callbackOutcome: outcomeInvalid,
		pageTitle: notValidTitle, pageText: nothingStored},
	{err: errURITooLong, status: http.StatusRequestURITooLong, reason: "too_large", message: "Request URI too long",
		outcome: "too_large", callbackOutcome: outcomeInvalid,
		pageTitle: notValidTitle, pageText: nothingStored},
	{err: errUnsupportedMedia, status: http.StatusUnsupportedMediaType, reason: "unsupported_media_type", message: "Unsupported media type",
		outcome: "unsupported_media_type", callbackOutcome: outcomeInvalid,
		pageTitle: notValidTitle, pageText: nothingStored},
	{err: errTokenMissing, status: http.StatusUnauthorized, reason: "unauthorized", message: "Missing API token: send Authorization: Bearer <token>",
		outcome: "unauthorized", wwwAuthenticate: `Bearer realm="oauth-callback-server"`},
	{err: errTokenInvalid, status: http.StatusUnauthorized, reason: "unauthorized", message: "Invalid API token",
		outcome: "unauthorized", wwwAuthenticate: `Bearer realm="oauth-callback-server", error="invalid_token"`},
	{err: errRateLimited, status: http.StatusTooManyRequests, reason: "rate_limited", message: "Too many requests, retry later",
		outcome: "rate_limited", callbackOutcome: "rate_limited", retryAfter: retryAfterFull,
		pageTitle: "Too many sign-in attempts", pageText: "Too many sign-in responses came from your network. Wait a minute, then start again from your application."},
	{err: errNoRoute, status: http.StatusNotFound, reason: "not_found", message: "Not found", outcome: "not_found"},
	{err: errMethodNotAllowed, status: http.StatusMethodNotAllowed, reason: "method_not_allowed", message: "Method not allowed", outcome: "method_not_allowed"},
	// A sign-in link's (/start/{id}): only a browser meets these, and gets
	// the page; their JSON is there so that no row could answer without a
	// reason.
	{err: errLinkUnknown, status: http.StatusNotFound, reason: "not_found", message: "Sign-in link unknown or expired", outcome: "link_unknown",
		pageTitle: "Sign-in link expired", pageText: "This sign-in link is unknown, has expired, was already used or was cancelled. Start again from your application."},
	{err: errLinkElsewhere, status: http.StatusForbidden, reason: "unbound", message: "Sign-in link opened in another browser", outcome: "link_elsewhere",
		pageTitle: "Sign-in link opened in another browser", pageText: "This sign-in link was already opened in another browser, and for your safety it works only there. Start again from your application.",
		warning: "a sign-in link was opened in a second browser: it may have been forwarded; refused"},
	// A POST another site made the browser send: login CSRF, or a page
	// that opens links for its visitors. The link is unchanged.
	{err: errLinkCrossSite, status: http.StatusForbidden, reason: "invalid_request", message: "Sign-in link posted from another site", outcome: "link_cross_site",
		pageTitle: "Sign-in not continued", pageText: "Another website tried to continue this sign-in for you. Open the sign-in link from your application again, and press its button yourself.",
		warning: "a sign-in link was posted from another site: login CSRF, or a page that opens links for its visitors; refused, the link is unchanged"},
}

// internalError answers any error the table does not know, and a panic.
// Its text says nothing about the cause: that goes to the log only.
var internalError = errorOutcome{status: http.StatusInternalServerError, reason: "internal_error", message: "Internal server error",
	outcome: "internal_error", callbackOutcome: "internal_error", logError: true,
	pageTitle: notCompleteText, pageText: "Something went wrong on our side. Go back to your application and sign in again."}

// outcomeOf is err's row of the table.
func outcomeOf(err error) errorOutcome {
	for _, o := range errorOutcomes {
		if errors.Is(err, o.err) {
			return o
		}
	}
	return internalError
}

// Outcomes of a received callback that are not a refusal, for the request
// log and the callbacks metric alike.
const (
	outcomeStored      = "stored"
	outcomeErrorStored = "error_callback"
	outcomeInvalid     = "invalid"
)

// CallbackOutcomes are every outcome a received callback can have, as the
// request log and the oauth_callback_callbacks_received_total metric name
// them: metrics.New takes them, so that each series exists from the start.
func CallbackOutcomes() []string {
	names := []string{outcomeStored, outcomeErrorStored}
	for _, o := range append(errorOutcomes[:len(errorOutcomes):len(errorOutcomes)], internalError) {
		if o.callbackOutcome != "" && !slices.Contains(names, o.callbackOutcome) {
			names = append(names, o.callbackOutcome)
		}
	}
	return names
}

// writeError is the one exit for every refusal: it answers err as its row
// says (the row's page on the routes a person's browser opens, JSON with
// its reason everywhere else), notes it for the operator, and returns the
// status it answered.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) (status int) {
	o := outcomeOf(err)
	s.note(r, o, err)
	h := w.Header()
	if o.retryAfter != "" && h.Get("Retry-After") == "" {
		h.Set("Retry-After", o.retryAfter)
	}
	if o.wwwAuthenticate != "" {
		h.Set("WWW-Authenticate", o.wwwAuthenticate)
	}
	if o.pageTitle != "" && browserRoute(r) {
		s.writePage(w, r, o.statusForPage(), o.pageOf(err))
		return o.statusForPage()
	}
	writeJSON(w, o.status, errorBody{Status: "error", Message: o.messageOf(err), Reason: o.reason})
	return o.status
}

// errorBody is every non-2xx JSON answer: the original service's status and
// message, and a stable reason for programs.
type errorBody struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
}

// browserRoute: a person's browser opens these (routes.go): the identity
// provider's redirect and sign-in links.
func browserRoute(r *http.Request) bool {
	return r.URL.Path == "/callback" || strings.HasPrefix(r.URL.Path, "/start/")
}

// isCallback: the identity provider's redirect, which the callbacks metric
// counts.
func isCallback(r *http.Request) bool { return r.URL.Path == "/callback" }

func (o errorOutcome) statusForPage() int {
	if o.pageStatus != 0 {
		return o.pageStatus
	}
	return o.status
}

func (o errorOutcome) messageOf(err error) string {
	if re, ok := errors.AsType[*requestError](err); ok {
		return re.message
	}
	return o.message
}

// pageOf is the page for err: an error callback's says what the provider
// said; the others are "expired" for a 404 (a state the store does
// not know, or no longer reads) and for a 410 that is the same on the page
// (taken, cancelled, a link that expired), "error" for everything else, a
// conflict's 410 included.
func (o errorOutcome) pageOf(err error) page.Content {
	if ec, ok := errors.AsType[refusedErrorCallback](err); ok {
		c := providerErrorPage(ec.code, ec.subcode)
		c.Message += " Nothing was stored."
		return c
	}
	kind := page.Failure
	if o.status == http.StatusNotFound || o.status == http.StatusGone && o.pageStatus == 0 {
		kind = page.Expired
	}
	c := page.Content{Kind: kind, Title: o.pageTitle, Message: o.pageText}
	if re, ok := errors.AsType[*requestError](err); ok {
		c.Message = re.message + " " + c.Message
	}
	return c
}

// writePage sends a callback page; every page but success carries the
// request id.
func (s *server) writePage(w http.ResponseWriter, r *http.Request, status int, c page.Content) {
	if c.Kind != page.Success {
		c.RequestID = requestID(r)
	}
	s.opts.Pages.Write(w, status, c)
}

// note puts o on the request's log line (with the error's detail when the
// row says so), counts a callback's outcome, and logs the row's warning.
func (s *server) note(r *http.Request, o errorOutcome, err error) {
	name := o.outcome
	if isCallback(r) && o.callbackOutcome != "" {
		name = o.callbackOutcome
		s.metrics.CallbackReceived(name)
	}
	annotate(r, logOutcome(name))
	if o.logError {
		annotate(r, slog.String("error", err.Error()))
	}
	s.warn(r, o, err)
}

// warn logs the row's warning, for what an operator must see on its own:
// what a browser sent (the polls that find a state conflicted are no
// news), and a full store, on any route, once a minute.
func (s *server) warn(r *http.Request, o errorOutcome, err error) {
	switch {
	case o.warning == "":
	case o.err == callback.ErrFull:
		if s.fullWarning.due(time.Now()) {
			s.log.Warn(o.warning+fullAdvice(err), slog.String("error", err.Error()))
		}
	case browserRoute(r):
		attrs := []any{slog.String("request_id", requestID(r)), slog.String("error", err.Error())}
		if hash := stateHashOf(r); hash != "" {
			attrs = append(attrs, slog.String("state_hash", hash))
		}
		s.log.Warn(o.warning, attrs...)
	}
}

// fullAdvice says what is refused while the store is full, and what the
// operator can change, by the part of its bound that is full.
func fullAdvice(err error) string {
	var full *callback.FullError
	if !errors.As(err, &full) {
		return "new callbacks get 503 until entries are taken or expire; raise OAUTH_CALLBACK_MAX_MEMORY or look for a flood"
	}
	if full.EntryFloor > 0 {
		return fmt.Sprintf("%s is held by many small entries (each counts %d bytes at least, OAUTH_CALLBACK_MAX_MEMORY / OAUTH_CALLBACK_MAX_ENTRIES): "+
			"only writes to that part get 503; raise OAUTH_CALLBACK_MAX_ENTRIES, or look for a flood", full.Part, full.EntryFloor)
	}
	switch full.Part {
	case callback.PartUnregistered:
		return fmt.Sprintf("callbacks of states nobody registered hold their %.0f %% share: only those get 503, registered sign-ins go on; "+
			"look for a flood of made-up states, or set OAUTH_CALLBACK_REQUIRE_REGISTRATION once every MCP server registers its states", 100*callback.UnregisteredShare)
	case callback.PartRegistrations:
		return fmt.Sprintf("registrations waiting for their callback hold their %.0f %% share: new registrations get 503 until some complete or expire; "+
			"look for an MCP server that registers without signing people in, or lower OAUTH_CALLBACK_RATE_LIMIT_REGISTER", 100*callback.RegistrationShare)
	case callback.PartApp, callback.PartAppRegistrations:
		return fmt.Sprintf("app %s holds %s: only its sign-ins get 503, the other apps go on; raise its memory_share (OAUTH_CALLBACK_APPS_FILE), or look at why it holds so many",
			full.App, full.Part)
	case callback.PartEntries:
		return "new callbacks get 503 until entries are taken or expire; raise OAUTH_CALLBACK_MAX_ENTRIES or look for a flood"
	case callback.PartRedisMemory:
		return "Redis refused a write past its maxmemory: give Redis more memory (1.5 times OAUTH_CALLBACK_MAX_MEMORY and what else it holds), or lower OAUTH_CALLBACK_MAX_MEMORY"
	}
	return "new callbacks get 503 until entries are taken or expire; raise OAUTH_CALLBACK_MAX_MEMORY or look for a flood"
}

// onceAMinute lets a warning through at most once a minute, however many
// requests trigger it.
type onceAMinute struct{ last atomic.Int64 }

func (o *onceAMinute) due(now time.Time) bool {
	last := o.last.Load()
	if now.UnixNano()-last < int64(time.Minute) {
		return false
	}
	return o.last.CompareAndSwap(last, now.UnixNano())
}
