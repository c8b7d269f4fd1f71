package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

type ctxKey struct{}

// requestInfo travels with a request: its id, the state's hash once known,
// what handlers add to its one log line, its route, and, while it waits
// for a callback, its long-poll.
type requestInfo struct {
	id        string
	stateHash string
	attrs     []slog.Attr
	route     string    // the chi route pattern, once routed
	app       string    // the app of the request's token, once checked ("" : none)
	mayWait   bool      // served by serveMayWait, so it may become a long-poll
	longPoll  *longPoll // set while the request waits
}

func infoOf(r *http.Request) *requestInfo {
	info, _ := r.Context().Value(ctxKey{}).(*requestInfo)
	return info
}

// requestID is the request's id, for pages and log lines of its own.
func requestID(r *http.Request) string {
	if info, ok := r.Context().Value(ctxKey{}).(*requestInfo); ok {
		return info.id
	}
	return ""
}

// annotateState names the request's state on its log line, as a hash.
func annotateState(r *http.Request, hash string) {
	if info, ok := r.Context().Value(ctxKey{}).(*requestInfo); ok {
		info.stateHash = hash
		info.attrs = append(info.attrs, slog.String("state_hash", hash))
	}
}

func stateHashOf(r *http.Request) string {
	if info, ok := r.Context().Value(ctxKey{}).(*requestInfo); ok {
		return info.stateHash
	}
	return ""
}

// annotate adds attributes to the request's log line: the outcome and the
// state's short hash, never a code or a raw state.
func annotate(r *http.Request, attrs ...slog.Attr) {
	if info, ok := r.Context().Value(ctxKey{}).(*requestInfo); ok {
		info.attrs = append(info.attrs, attrs...)
	}
}

func logOutcome(outcome string) slog.Attr { return slog.String("outcome", outcome) }

// Request ids are a random per-process prefix and a counter: unique across
// replicas, and cheap.
var (
	requestIDPrefix = func() string {
		var b [4]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:]) + "-"
	}()
	requestCounter atomic.Uint64
)

// ServeHTTP gives every request an id (the caller's X-Request-Id, from a
// proxy, when it is sane) echoed in the response, serves it, and writes one
// log line and the metrics when it is done: method, route pattern (never
// the path, which holds the state), status, duration, request id.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.Header.Get("X-Request-Id")
	if !validRequestID(id) {
		id = requestIDPrefix + strconv.FormatUint(requestCounter.Add(1), 36)
	}
	w.Header()["X-Request-Id"] = []string{id}
	info := &requestInfo{id: id}
	ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
	r, span := s.startRequestSpan(r)
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, info))
	if s.mayWait(r) {
		info.mayWait = true
		s.serveMayWait(ww, r, info)
	} else {
		s.router.ServeHTTP(ww, r)
	}
	route, status := routeName(info), statusOf(ww)
	s.logRequest(r, info, route, status, time.Since(start))
	endRequestSpan(span, r.Method, route, status, info)
}

func routeName(info *requestInfo) string {
	if info.route == "" {
		return "unmatched"
	}
	return info.route
}

func statusOf(ww middleware.WrapResponseWriter) int {
	if ww.Status() == 0 {
		return http.StatusOK
	}
	return ww.Status()
}

// noteRoute records the route pattern once chi has routed the request; the
// router's own context is gone by the time the request is logged.
func (s *server) noteRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		if rc := chi.RouteContext(r.Context()); rc != nil {
			if info := infoOf(r); info != nil {
				info.route = rc.RoutePattern()
			}
		}
	})
}

func (s *server) logRequest(r *http.Request, info *requestInfo, route string, status int, elapsed time.Duration) {
	s.metrics.Request(route, r.Method, status, elapsed)
	if info.app != "" {
		s.metrics.APIRequest(info.app, route, status)
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	h := s.log.Handler()
	if !h.Enabled(r.Context(), level) {
		return
	}
	// A record without a caller PC: Logger.LogAttrs would walk the
	// stack for one on every request, and the source is always here.
	rec := slog.NewRecord(time.Now(), level, "request", 0)
	rec.AddAttrs(
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.Int("status", status),
		// Milliseconds, named so: slog writes a Duration into JSON as
		// nanoseconds, which log pipelines then read as milliseconds.
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.String("request_id", info.id),
	)
	rec.AddAttrs(info.attrs...)
	_ = h.Handle(r.Context(), rec)
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

// recoverPanics turns a panic in a handler into the table's internal error,
// a page on a browser's route and JSON elsewhere, that says nothing about
// the cause; the log gets the detail.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer s.recoverTo(w, r)
		next.ServeHTTP(w, r)
	})
}

// recoverTo, deferred, answers a panic with a 500.
func (s *server) recoverTo(w http.ResponseWriter, r *http.Request) {
	rec := recover()
	if rec == nil {
		return
	}
	if rec == http.ErrAbortHandler {
		panic(rec) // the server's own way to abort a response
	}
	s.log.Error("panic in handler", slog.Any("panic", rec), slog.String("stack", string(debug.Stack())))
	s.writeError(w, r, fmt.Errorf("panic: %v", rec))
}
