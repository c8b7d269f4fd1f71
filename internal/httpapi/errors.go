package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/page"
)

// storeOutcome is how one store error is shown: the status code, the
// message the JSON API gives (the first two are the original service's, word
// for word), and what the person in the browser reads.
type storeOutcome struct {
	err       error
	status    int
	message   string // JSON API
	logName   string // outcome in the request log
	pageTitle string
	pageText  string
	logError  bool // the error's detail goes into the log line
}

// storeOutcomes is the ONE table from store errors to HTTP answers.
var storeOutcomes = []storeOutcome{
	{callback.ErrNotFound, http.StatusNotFound, "Callback not found or expired", "not_found",
		"Sign-in link expired", "This sign-in link is unknown or has expired. Start again from your application.", false},
	{callback.ErrAlreadyTaken, http.StatusGone, "Callback already retrieved", "already_taken",
		"Sign-in already completed", "Your application already received this sign-in. You can close this window.", false},
	{callback.ErrExists, http.StatusConflict, "Callback already received for this state", "duplicate",
		"Sign-in already received", "This sign-in was already received; nothing was changed. You can close this window and return to your application.", false},
	{callback.ErrFull, http.StatusServiceUnavailable, "Callback store is full, retry later", "store_full",
		"Sign-in could not be completed", "The service is busy right now. Go back to your application and sign in again in a few minutes.", false},
	{callback.ErrUnavailable, http.StatusServiceUnavailable, "Callback store unavailable, retry later", "store_unavailable",
		"Sign-in could not be completed", "The service is temporarily unavailable. Go back to your application and sign in again.", true},
	{callback.ErrNotReplicated, http.StatusServiceUnavailable, "Callback not acknowledged by enough replicas, retry", "not_replicated",
		"Sign-in could not be saved", "Your sign-in could not be saved safely. Go back to your application and sign in again.", true},
	{callback.ErrNotRegistered, http.StatusNotFound, "State not registered or registration expired", "not_registered",
		"Sign-in link expired", "This sign-in link is unknown or has expired. Start again from your application.", false},
	// Written under another encryption key, or corrupted: to the client it
	// is simply gone (never a 5xx); the operator gets the detail.
	{callback.ErrUnreadable, http.StatusNotFound, "Callback not found or expired", "unreadable",
		"Sign-in link expired", "This sign-in link is unknown or has expired. Start again from your application.", true},
}

// internalOutcome answers any error the table does not know. Its text says
// nothing about the cause: that goes to the log only.
var internalOutcome = storeOutcome{nil, http.StatusInternalServerError, "Internal server error", "internal_error",
	"Sign-in could not be completed", "Something went wrong on our side. Go back to your application and sign in again.", true}

// page is the callback page for this outcome: "expired" for a state the
// store does not know, "error" for everything else.
func (o storeOutcome) page() page.Content {
	kind := page.Failure
	if o.status == http.StatusNotFound || o.status == http.StatusGone {
		kind = page.Expired
	}
	return page.Content{Kind: kind, Title: o.pageTitle, Message: o.pageText}
}

// builtinPages is the built-in callback page, which needs no check.
func builtinPages() *page.Renderer {
	r, err := page.New(page.Options{})
	if err != nil {
		panic(fmt.Sprintf("httpapi: built-in callback page: %v", err))
	}
	return r
}

// staticPages are rendered once at start: the pages whose text never
// depends on the request. The set is fixed, so it cannot grow.
func staticPages() []page.Content {
	pages := []page.Content{successPage, rateLimitedPage}
	for _, o := range append(storeOutcomes, internalOutcome) {
		pages = append(pages, o.page())
	}
	return pages
}

var successPage = page.Content{
	Kind:    page.Success,
	Title:   "Sign-in complete",
	Message: "You are signed in. You can close this window and return to your application.",
}

// annotateOutcome puts o, and err's detail when o says so, on the log line.
func annotateOutcome(r *http.Request, o storeOutcome, err error) {
	annotate(r, logOutcome(o.logName))
	if o.logError {
		annotate(r, slog.String("error", err.Error()))
	}
}

func outcomeOf(err error) storeOutcome {
	for _, o := range storeOutcomes {
		if errors.Is(err, o.err) {
			return o
		}
	}
	return internalOutcome
}
