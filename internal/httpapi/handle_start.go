package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/loopback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/page"
)

var linkPage = page.Content{Kind: page.Start, Title: "Ready to sign in",
	Message: "This link signs you in for your application. Continue only if you started this sign-in yourself, just now.",
	Form:    page.Form{Button: "Continue to sign-in"}}

// handleStartPage answers a sign-in link's GET with a page whose button
// posts to the link (handleStart). Mail and chat previewers fetch links
// before the person does; a GET that bound the browser would bind theirs.
// It does not look the link up: a GET costs no store operation whoever
// sends it, the store has no read that would not open the link, and the
// button's POST says "expired" at once.
func (s *server) handleStartPage() http.HandlerFunc {
	pages, err := s.opts.Pages.WithFormTargets(s.startFormTargets()...)
	if err != nil {
		// config.Load refuses such hosts: a caller that skipped it.
		panic(fmt.Sprintf("httpapi: sign-in link hosts: %v", err))
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if !validLinkID(chi.URLParam(r, "id")) {
			s.writeError(w, r, errLinkUnknown)
			return
		}
		annotate(r, logOutcome("link_page"))
		pages.Write(w, http.StatusOK, linkPage)
	}
}

// startFormTargets are the origins the link page's form may reach besides
// its own: the browser follows the POST's 303 to the authorization URL
// (https, or http on loopback, as checkLinkURL allows), and when the
// provider answers at once (a session, consent given) on to /callback, its
// own origin, and from there with ReturnRedirect to the return_url. Chromium
// enforces form-action on every one of those redirects.
func (s *server) startFormTargets() []string {
	hosts := s.opts.SignInLinks.AuthorizeHosts
	if s.opts.SignInLinks.ReturnRedirect {
		hosts = append(hosts[:len(hosts):len(hosts)], s.opts.SignInLinks.ReturnHosts...)
	}
	var origins []string
	for _, h := range hosts {
		origins = append(origins, "https://"+h)
		if loopback.Is(h) {
			origins = append(origins, "http://"+h)
		}
	}
	return origins
}

// handleStart opens a sign-in link, from the button of its page: the first
// browser is bound to the state by a cookie and sent on to the identity
// provider (303); the same browser may press it again (after Back),
// another one may not.
func (s *server) handleStart() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// A POST another site makes the browser send would bind it without
		// the person pressing the button; browsers that say where a request
		// comes from (every current one) are held to the link's own page.
		// Without the header the exposure is what a GET that bound was.
		if !fromOwnPage(r) {
			s.writeError(w, r, errLinkCrossSite)
			return
		}
		id := chi.URLParam(r, "id")
		if !validLinkID(id) {
			s.writeError(w, r, errLinkUnknown)
			return
		}
		st, err := s.start(r.Context(), id)
		state, link, first := st.state, st.link, st.first
		if errors.Is(err, callback.ErrNotFound) {
			err = errLinkUnknown // the store's "unknown" is the link's: expired, used or cancelled
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		annotateState(r, s.opts.StateHasher.Hash(state))
		if _, bound := s.binding.bound(r, state); !first && !bound {
			s.writeError(w, r, errLinkElsewhere)
			return
		}
		annotate(r, logOutcome("link_opened"))
		http.SetCookie(w, s.binding.cookie(state, int(s.opts.StoreTTL.Seconds())))
		h := w.Header()
		h["Cache-Control"] = noStore
		h["Referrer-Policy"] = noReferrer
		http.Redirect(w, r, link.AuthorizationURL, http.StatusSeeOther)
	}
}

// fromOwnPage: the request's Sec-Fetch-Site, when the browser sends one,
// says it came from this origin ("same-origin") or from the person
// ("none": a reload). The Origin header is no fallback: the page's
// no-referrer policy makes browsers send "Origin: null" on its own POST.
func fromOwnPage(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}
