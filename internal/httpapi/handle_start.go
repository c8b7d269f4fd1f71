package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/loopback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/page"
)

var (
	linkUnknownPage = page.Content{Kind: page.Expired, Title: "Sign-in link expired",
		Message: "This sign-in link is unknown, has expired, was already used or was cancelled. Start again from your application."}
	linkElsewherePage = page.Content{Kind: page.Failure, Title: "Sign-in link opened in another browser",
		Message: "This sign-in link was already opened in another browser, and for your safety it works only there. Start again from your application."}
	linkCrossSitePage = page.Content{Kind: page.Failure, Title: "Sign-in not continued",
		Message: "Another website tried to continue this sign-in for you. Open the sign-in link from your application again, and press its button yourself."}
	linkPage = page.Content{Kind: page.Start, Title: "Ready to sign in",
		Message: "This link signs you in for your application. Continue only if you started this sign-in yourself, just now.",
		Form:    page.Form{Button: "Continue to sign-in"}}
)

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
			annotate(r, logOutcome("link_unknown"))
			s.writePage(w, r, http.StatusNotFound, linkUnknownPage)
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
			annotate(r, logOutcome("link_cross_site"))
			s.log.Warn("a sign-in link was posted from another site: login CSRF, or a page that opens links for its visitors; refused, the link is unchanged",
				slog.String("request_id", requestID(r)))
			s.writePage(w, r, http.StatusForbidden, linkCrossSitePage)
			return
		}
		id := chi.URLParam(r, "id")
		if !validLinkID(id) {
			annotate(r, logOutcome("link_unknown"))
			s.writePage(w, r, http.StatusNotFound, linkUnknownPage)
			return
		}
		st, err := s.start(r.Context(), id)
		state, link, first := st.state, st.link, st.first
		if errors.Is(err, callback.ErrNotFound) {
			annotate(r, logOutcome("link_unknown"))
			s.writePage(w, r, http.StatusNotFound, linkUnknownPage)
			return
		}
		if err != nil {
			s.writeStoreError(w, r, err)
			return
		}
		annotateState(r, s.opts.StateHasher.Hash(state))
		if _, bound := s.binding.bound(r, state); !first && !bound {
			annotate(r, logOutcome("link_elsewhere"))
			s.log.Warn("a sign-in link was opened in a second browser: it may have been forwarded; refused",
				slog.String("state_hash", stateHashOf(r)), slog.String("request_id", requestID(r)))
			s.writePage(w, r, http.StatusForbidden, linkElsewherePage)
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
