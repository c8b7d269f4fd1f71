package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

// writeJSON answers with v as JSON. Nothing the API returns may be cached:
// it carries authorization codes.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"status":"error","message":"Internal server error","reason":"internal_error"}`)
	}
	body = append(body, '\n')
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	h["Cache-Control"] = noStore
	h["X-Content-Type-Options"] = nosniff
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Header values every response shares. They are assigned to the header
// map directly (keys already canonical) and never modified.
var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
	nosniff         = []string{"nosniff"}
	noReferrer      = []string{"no-referrer"}
)

func (s *server) handleNotFound() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errNoRoute)
	}
}

// allowedMethods are the ones routes.go may use.
var allowedMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions}

// handleMethodNotAllowed answers 405 with the Allow header chi would set,
// and a message.
func (s *server) handleMethodNotAllowed() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.Routes != nil {
			for _, m := range allowedMethods {
				if m != http.MethodOptions && rc.Routes.Match(chi.NewRouteContext(), m, r.URL.Path) {
					allow = append(allow, m)
				}
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
		}
		s.writeError(w, r, refused(errMethodNotAllowed, "Method %s is not allowed here", r.Method))
	}
}
