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

// storeOutcome is how one store error is shown: the status code, the
// stable reason and message the JSON API gives (the first two messages are
// the original service's, word for word), and what the person in the
// browser reads.
type storeOutcome struct {
	err        error
	status     int // JSON API
	pageStatus int // the browser's page, when it differs from status
	reason     string
	message    string // JSON API
	logName    string // outcome in the request log and the callbacks metric
	pageTitle  string
	pageText   string
	logError   bool   // the error's detail goes into the log line
	warn       bool   // a WARN line of its own: someone may be interfering with a sign-in
	retryAfter string // seconds, on every 503 outcome: the only place they are set
}

// storeOutcomes is the ONE table from store errors to HTTP answers.
var storeOutcomes = []storeOutcome{
	{err: callback.ErrNotFound, status: http.StatusNotFound, reason: "not_found", message: "Callback not found or expired", logName: "not_found",
		pageTitle: "Sign-in link expired", pageText: "This sign-in link is unknown or has expired. Start again from your application."},
	{err: callback.ErrAlreadyTaken, status: http.StatusGone, reason: "already_retrieved", message: "Callback already retrieved", logName: "already_taken",
		pageTitle: "Sign-in already completed", pageText: "Your application already received this sign-in. You can close this window."},
	// On the API only a registration meets it: the state is registered or
	// used already.
	{err: callback.ErrExists, status: http.StatusConflict, reason: "duplicate", message: "State already registered or used", logName: "duplicate",
		pageTitle: "Sign-in already received", pageText: "This sign-in was already received; nothing was changed. You can close this window and return to your application."},
	// The take answers 410, so that the field client stops polling.
	{err: callback.ErrConflict, status: http.StatusGone, pageStatus: http.StatusConflict, reason: "conflict",
		message: "Conflicting callbacks received for this state; start the sign-in again", logName: "conflict", warn: true,
		pageTitle: "Sign-in interrupted", pageText: "A second, different response arrived for this sign-in, so it was stopped to keep your account safe. Close this window and start the sign-in again from your application."},
	{err: callback.ErrConflictAfterTake, status: http.StatusConflict, reason: "conflict",
		message: "A different callback arrived after this state's callback was retrieved", logName: "conflict", warn: true,
		pageTitle: "Sign-in link already used", pageText: "This sign-in was already completed with another response; this one was not used. If you did not just sign in, tell your administrator and quote the request ID below."},
	{err: callback.ErrCancelled, status: http.StatusGone, reason: "cancelled", message: "Sign-in cancelled", logName: "cancelled",
		pageTitle: "Sign-in cancelled", pageText: "Your application cancelled this sign-in, so this response was not used. If you still want to sign in, start again from your application."},
	// A sign-in link's callback from a browser that did not open the link:
	// a forwarded authorization URL, or login CSRF.
	{err: callback.ErrUnbound, status: http.StatusForbidden, reason: "unbound", message: "Sign-in not started in this browser", logName: "unbound", warn: true,
		pageTitle: "Sign-in not started in this browser", pageText: "This sign-in was not started in this browser, so it was not accepted and nothing was stored. Start again from your application, and finish the sign-in in the browser it opens."},
	// A sign-in link that ended with no callback: the take answers 410, so
	// that a waiting MCP server stops; the browser that opened it is told
	// to start again (any other browser gets ErrUnbound's page).
	{err: callback.ErrLinkExpired, status: http.StatusGone, reason: "link_expired", message: "Sign-in link expired; start the sign-in again", logName: "link_expired",
		pageTitle: "Sign-in link expired", pageText: "This sign-in link expired before the sign-in finished, so this response was not used. Start again from your application."},
	{err: callback.ErrFull, status: http.StatusServiceUnavailable, reason: "store_full", message: "Callback store is full, retry later", logName: "store_full", retryAfter: retryAfterFull,
		pageTitle: "Sign-in could not be completed", pageText: "The service is busy right now. Try again in a minute: go back to your application and start the sign-in again."},
	{err: callback.ErrUnavailable, status: http.StatusServiceUnavailable, reason: "store_unavailable", message: "Callback store unavailable, retry later", logName: "store_unavailable", logError: true, retryAfter: retryAfterSoon,
		pageTitle: "Sign-in could not be completed", pageText: "The service is temporarily unavailable. Go back to your application and sign in again."},
	{err: callback.ErrNotReplicated, status: http.StatusServiceUnavailable, reason: "not_replicated", message: "Callback not acknowledged by enough replicas, retry", logName: "not_replicated", logError: true, retryAfter: retryAfterSoon,
		pageTitle: "Sign-in could not be saved", pageText: "Your sign-in could not be saved safely. Go back to your application and sign in again."},
	{err: callback.ErrNotRegistered, status: http.StatusNotFound, reason: "not_registered", message: "State not registered or registration expired", logName: "not_registered",
		pageTitle: "Sign-in link expired", pageText: "This sign-in link is unknown or has expired. Start again from your application."},
	// RFC 9207: the callback names another authorization server than the
	// registration: a mix-up attack, or a sign-in at the wrong tenant.
	// Nothing stored; the state still waits for the real callback.
	{err: callback.ErrIssuerMismatch, status: http.StatusBadRequest, reason: "issuer_mismatch", message: "Callback from another issuer than the registration named", logName: "issuer_mismatch", warn: true,
		pageTitle: "Sign-in response from the wrong provider", pageText: "This sign-in response did not come from the sign-in provider your application expected, so it was not used and nothing was stored. Start again from your application; if this happens again, tell its administrator and quote the request ID below."},
	// Written under another encryption key, or corrupted: to the client it
	// is simply gone (never a 5xx); the operator gets the detail.
	{err: callback.ErrUnreadable, status: http.StatusNotFound, reason: "not_found", message: "Callback not found or expired", logName: "unreadable", logError: true,
		pageTitle: "Sign-in link expired", pageText: "This sign-in link is unknown or has expired. Start again from your application."},
}

// Outcomes of a received callback that are not a store's answer, for the
// request log and the callbacks metric alike.
const (
	outcomeStored      = "stored"
	outcomeErrorStored = "error_callback"
	outcomeInvalid     = "invalid"
)

// CallbackOutcomes are every outcome a received callback can have, as the
// request log and the oauth_callback_callbacks_received_total metric name
// them: metrics.New takes them, so that each series exists from the start.
func CallbackOutcomes() []string {
	names := []string{outcomeStored, outcomeErrorStored, outcomeInvalid, reasonRateLimited, internalOutcome.logName}
	for _, o := range storeOutcomes {
		if !slices.Contains(names, o.logName) {
			names = append(names, o.logName)
		}
	}
	return names
}

// Retry-After values: a store that is full frees up as callbacks expire or
// are taken (a minute), every other 503 is worth trying again soon.
const (
	retryAfterFull = "60"
	retryAfterSoon = "2"
)

// internalOutcome answers any error the table does not know. Its text says
// nothing about the cause: that goes to the log only.
var internalOutcome = storeOutcome{status: http.StatusInternalServerError, reason: "internal_error", message: "Internal server error", logName: "internal_error",
	pageTitle: "Sign-in could not be completed", pageText: "Something went wrong on our side. Go back to your application and sign in again.", logError: true}

func outcomeOf(err error) storeOutcome {
	for _, o := range storeOutcomes {
		if errors.Is(err, o.err) {
			return o
		}
	}
	return internalOutcome
}

// page is the callback page for this outcome: "expired" for a 404 (a
// state the store does not know, or no longer reads) and for a 410 that is
// the same on the page (taken, cancelled, a link that expired), "error"
// for everything else, a conflict's 410 included.
func (o storeOutcome) page() page.Content {
	kind := page.Failure
	if o.status == http.StatusNotFound || o.status == http.StatusGone && o.pageStatus == 0 {
		kind = page.Expired
	}
	return page.Content{Kind: kind, Title: o.pageTitle, Message: o.pageText}
}

func (o storeOutcome) statusForPage() int {
	if o.pageStatus != 0 {
		return o.pageStatus
	}
	return o.status
}

// errorBody is every non-200 JSON answer: the original service's status and
// message, and a stable reason for programs.
type errorBody struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
}

// requestError is a refused request: its status, and a message a person
// understands. It never quotes what the request sent.
type requestError struct {
	status  int
	message string
}

func badRequest(format string, args ...any) *requestError {
	return &requestError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// reason is the stable reason for the status.
func (e *requestError) reason() string {
	switch e.status {
	case http.StatusRequestEntityTooLarge, http.StatusRequestURITooLong:
		return reasonTooLarge
	case http.StatusUnsupportedMediaType:
		return reasonUnsupportedMedia
	}
	return reasonInvalid
}

// writeRequestError is the one exit of the JSON API for bad input.
func writeRequestError(w http.ResponseWriter, r *http.Request, e *requestError) {
	writeError(w, r, e.status, e.reason(), e.message)
}

// Reasons of errors that are not store outcomes.
const (
	reasonInvalid          = "invalid_request"
	reasonUnauthorized     = "unauthorized"
	reasonRateLimited      = "rate_limited"
	reasonTooLarge         = "too_large"
	reasonUnsupportedMedia = "unsupported_media_type"
	reasonRouteNotFound    = "not_found"
	reasonMethodNotAllowed = "method_not_allowed"
)

// writeError is the one exit of the JSON API for a refused request.
func writeError(w http.ResponseWriter, r *http.Request, status int, reason, message string) {
	annotate(r, logOutcome(reason))
	writeJSON(w, status, errorBody{Status: "error", Message: message, Reason: reason})
}

// writeStoreError is the one exit for a store error: it notes the outcome
// and answers it as the route wants (writeOutcome).
func (s *server) writeStoreError(w http.ResponseWriter, r *http.Request, err error) storeOutcome {
	o := s.noteOutcome(r, err, browserRoute(r))
	s.writeOutcome(w, r, o)
	return o
}

// writeOutcome answers o from the table: the callback page on the routes
// a person's browser opens, JSON with its reason on every other. The
// recovery from a panic answers through it too.
func (s *server) writeOutcome(w http.ResponseWriter, r *http.Request, o storeOutcome) {
	if o.retryAfter != "" {
		w.Header().Set("Retry-After", o.retryAfter)
	}
	if browserRoute(r) {
		s.writePage(w, r, o.statusForPage(), o.page())
		return
	}
	writeJSON(w, o.status, errorBody{Status: "error", Message: o.message, Reason: o.reason})
}

// browserRoute: a person's browser opens these (routes.go): the identity
// provider's redirect and sign-in links.
func browserRoute(r *http.Request) bool {
	return r.URL.Path == "/callback" || strings.HasPrefix(r.URL.Path, "/start/")
}

// writePage sends a callback page; every page but success carries the
// request id.
func (s *server) writePage(w http.ResponseWriter, r *http.Request, status int, c page.Content) {
	if c.Kind != page.Success {
		c.RequestID = requestID(r)
	}
	s.opts.Pages.Write(w, status, c)
}

// noteOutcome puts o on the request's log line, and logs what an operator
// must see on its own: each conflicting callback (not the polls that find
// the state conflicted), a full store once a minute.
func (s *server) noteOutcome(r *http.Request, err error, isCallback bool) storeOutcome {
	o := outcomeOf(err)
	annotate(r, logOutcome(o.logName))
	if o.logError {
		annotate(r, slog.String("error", err.Error()))
	}
	switch {
	case o.err == callback.ErrUnbound:
		s.log.Warn("a sign-in link's callback came from a browser that did not open the link: a forwarded link, or login CSRF; nothing stored",
			slog.String("state_hash", stateHashOf(r)), slog.String("request_id", requestID(r)))
	case o.err == callback.ErrIssuerMismatch:
		s.log.Warn("a callback named another issuer than its state's registration: a mix-up attack, or a sign-in at the wrong tenant; nothing stored, the state still waits",
			slog.String("state_hash", stateHashOf(r)), slog.String("request_id", requestID(r)))
	case o.warn && isCallback:
		s.log.Warn("conflicting callbacks for one state: someone else may have sent one; nobody gets either code",
			slog.String("state_hash", stateHashOf(r)), slog.String("request_id", requestID(r)), slog.String("error", err.Error()))
	case o.err == callback.ErrFull && s.fullWarning.due(time.Now()):
		s.log.Warn("the callback store is full: "+fullAdvice(err), slog.String("error", err.Error()))
	}
	return o
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
