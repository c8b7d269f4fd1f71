package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	logAttrsKey
)

// requestID takes a sane X-Request-Id from the caller (a proxy's) or makes
// one, and echoes it in the response so a person's report can be matched to
// the log.
func (s *server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// logAttrs collects what handlers add to the request's one log line.
type logAttrs struct{ attrs []slog.Attr }

// annotate adds attributes to the request's log line: the outcome and the
// state's short hash, never a code or a raw state.
func annotate(r *http.Request, attrs ...slog.Attr) {
	if la, ok := r.Context().Value(logAttrsKey).(*logAttrs); ok {
		la.attrs = append(la.attrs, attrs...)
	}
}

// logRequests writes one line per request: method, route pattern (never the
// path, which holds the state), status, duration, request id.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		la := &logAttrs{}
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r.WithContext(context.WithValue(r.Context(), logAttrsKey, la)))

		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		s.metrics.Request(route, r.Method, status, time.Since(start))
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		id, _ := r.Context().Value(requestIDKey).(string)
		attrs := append([]slog.Attr{
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)),
			slog.String("request_id", id),
		}, la.attrs...)
		s.log.LogAttrs(r.Context(), level, "request", attrs...)
	})
}

// recoverPanics turns a panic in a handler into a plain 500 that says
// nothing about the cause; the log gets the detail.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec) // the server's own way to abort a response
			}
			s.log.Error("panic in handler", slog.Any("panic", rec), slog.String("stack", string(debug.Stack())))
			annotate(r, slog.String("outcome", "panic"))
			writeJSON(w, http.StatusInternalServerError, errorBody{Status: "error", Message: internalOutcome.message})
		}()
		next.ServeHTTP(w, r)
	})
}
