package main

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
)

// serveLeastWork is the reference for the Redis store: the least work the
// design needs, and nothing else. net/http and go-redis; a callback is one
// SET NX EX 600 of its code under its state, a take one GETDEL. No
// validation, sealing, budget, tombstone, page, metric or log: what the
// service spends beyond this reference is what they cost.
func serveLeastWork(addr, redisAddr string) error {
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {}) // ready
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if err := rdb.SetNX(r.Context(), "lw:"+q.Get("state"), q.Get("code"), 10*time.Minute).Err(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("GET /api/callback/{state}", func(w http.ResponseWriter, r *http.Request) {
		code, err := rdb.GetDel(r.Context(), "lw:"+r.PathValue("state")).Result()
		switch {
		case err == redis.Nil:
			http.Error(w, `{"status":"error"}`, http.StatusNotFound)
		case err != nil:
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		default:
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "success", "auth_code": code})
		}
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return srv.ListenAndServe()
}
