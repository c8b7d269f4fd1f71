package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Every request a handler test sends, and every response it gets, is held
// to docs/openapi.yaml: a response that drifts from the description fails
// the test that got it.

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

func loadSpec() (routers.Router, error) {
	specOnce.Do(func() {
		// Pages are HTML: their content is for people, not for a schema.
		openapi3filter.RegisterBodyDecoder("text/html", func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			b, err := io.ReadAll(r)
			return string(b), err
		})
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromFile("../../docs/openapi.yaml")
		if err != nil {
			specErr = err
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			specErr = err
			return
		}
		doc.Servers = nil // match requests to any host
		specRouter, specErr = legacy.NewRouter(doc)
	})
	return specRouter, specErr
}

// checkedAgainstSpec wraps the handler under test. A request the
// description does not allow must be refused (4xx); a route it does not
// have must be a 404 or 405; every response must match it.
func checkedAgainstSpec(t testing.TB, next http.Handler) http.Handler {
	router, err := loadSpec()
	if err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	tt, ok := t.(*testing.T)
	if !ok {
		return next // a fuzz target reports through its own *testing.T
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(r.Body)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())

		if r.Context().Err() != nil {
			return // the client left: nobody got an answer to check
		}
		req := r.Clone(context.Background())
		req.Body = io.NopCloser(bytes.NewReader(body))
		// A state may hold an escaped slash: match on the path as sent.
		req.URL.Path, req.URL.RawPath = r.URL.EscapedPath(), ""
		route, params, err := router.FindRoute(req)
		if err != nil {
			if rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
				tt.Errorf("openapi: %s %s is not in docs/openapi.yaml, yet answered %d", r.Method, r.URL.Path, rec.Code)
			}
			return
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil && rec.Code < 400 {
			tt.Errorf("openapi: %s %s does not match docs/openapi.yaml (%v), yet answered %d", r.Method, r.URL, err, rec.Code)
		}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
			Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		out.SetBodyBytes(rec.Body.Bytes())
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			tt.Errorf("openapi: the answer to %s %s does not match docs/openapi.yaml: %v\nbody: %.300s", r.Method, r.URL, err, rec.Body)
		}
	})
}
