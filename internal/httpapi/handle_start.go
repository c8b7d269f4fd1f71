package httpapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/page"
)

var (
	linkUnknownPage = page.Content{Kind: page.Expired, Title: "Sign-in link expired",
		Message: "This sign-in link is unknown, has expired, was already used or was cancelled. Start again from your application."}
	linkElsewherePage = page.Content{Kind: page.Failure, Title: "Sign-in link opened in another browser",
		Message: "This sign-in link was already opened in another browser, and for your safety it works only there. Start again from your application."}
)

// handleStart opens a sign-in link: the first browser to open it is bound
// to the state by a cookie and sent on to the identity provider (303); the
// same browser may open it again (a reload), another one may not.
func (s *server) handleStart() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
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
