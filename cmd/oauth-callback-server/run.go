package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/activation"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/memstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/redisstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/config"
	"github.com/oauth-callback-server/oauth-callback-server/internal/seal"
)

const (
	maxHeaderBytes = 32 << 10
	// redisStartupWait is how long start-up waits for Redis to answer, so
	// that a service started together with its Redis (compose, Helm) does not
	// crash-loop while Redis boots.
	redisStartupWait = 30 * time.Second
)

// run is the whole program; main only wires it to the process. environ is
// the environment as os.Environ gives it (the settings are read from it,
// and nothing else). It returns when ctx is cancelled (SIGTERM) and the
// server has drained, or on error.
func run(ctx context.Context, args []string, environ []string, stdout, stderr io.Writer) error {
	getenv := lookupIn(environ)
	fs := flag.NewFlagSet("oauth-callback-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stdout, `oauth-callback-server receives OAuth 2.0 authorization-code redirects
(/callback) and hands each one, once, to the MCP server polling
/api/callback/{state}.

Usage:
  oauth-callback-server               serve (configuration from the environment)
  oauth-callback-server healthcheck   exit 0 if the local instance's /healthz answers (for
                                      container health checks: the image has no shell or curl)
  oauth-callback-server check [--json]
                                      check the configuration, the listen address, the store,
                                      the redirect URI and sign-in links; a line each, ok, warn
                                      or fail with what to do; exit 1 when one fails
  oauth-callback-server version       print version, commit and Go version (also --version)

Environment:
`)
		config.PrintUsage(stdout)
	}
	showVersion := fs.Bool("version", false, "print version, commit and Go version, as the version command does")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError(err)
	}
	command := "serve"
	if *showVersion {
		if fs.NArg() > 0 {
			return usageError(fmt.Errorf("unexpected argument %q after --version", fs.Arg(0)))
		}
		command = "version"
	}
	if fs.NArg() > 0 {
		command = fs.Arg(0)
	}
	if command == "check" {
		checkFlags := flag.NewFlagSet("check", flag.ContinueOnError)
		checkFlags.SetOutput(stderr)
		asJSON := checkFlags.Bool("json", false, "one JSON array of {check, status, message}, for programs")
		if err := checkFlags.Parse(fs.Args()[1:]); err != nil {
			return usageError(err)
		}
		if checkFlags.NArg() > 0 {
			return usageError(fmt.Errorf("unexpected argument %q after check", checkFlags.Arg(0)))
		}
		return check(ctx, environ, getenv, *asJSON, stdout)
	}
	if fs.NArg() > 1 {
		return usageError(fmt.Errorf("unexpected argument %q after %s", fs.Arg(1), command))
	}
	switch command {
	case "version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "serve", "healthcheck":
	default:
		return usageError(fmt.Errorf("unknown command %q (configuration comes from OAUTH_CALLBACK_* variables; see -h)", command))
	}

	cfg, err := loadConfig(environ, getenv)
	if err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	if command == "healthcheck" {
		return healthcheck(ctx, cfg)
	}
	inherited, err := activation.Listener(getenv)
	if err != nil {
		return &config.Error{Var: "LISTEN_FDS", Value: getenv("LISTEN_FDS"), Reason: err.Error()}
	}
	svc, err := open(ctx, cfg, getenv, stdout, inherited)
	if err != nil {
		return err
	}
	warnAboutUnknownVariables(environ, svc.log)
	return svc.serve(ctx)
}

// lookupIn is getenv over environ: the last NAME=value of a name wins, as
// with os.Getenv.
func lookupIn(environ []string) func(string) string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return func(k string) string { return m[k] }
}

// loadConfig is the configuration of environ, as serve, healthcheck and
// check read it: config.Load, and a variable misspelt by a letter or two
// refused beside the invalid ones (config.Misspellings).
func loadConfig(environ []string, getenv func(string) string) (config.Config, error) {
	cfg, err := config.Load(getenv)
	if err := errors.Join(err, config.Misspellings(environ)); err != nil {
		return config.Config{}, err
	}
	return cfg, nil
}

// warnAboutUnknownVariables says, once at start, which OAUTH_CALLBACK_*
// variables nothing reads and are no slip for a known one (loadConfig
// refuses those): a name nothing reads is otherwise ignored silently.
func warnAboutUnknownVariables(environ []string, log *slog.Logger) {
	for _, u := range config.UnknownVariables(environ) {
		if u.Misspelt {
			continue
		}
		if u.Closest != "" {
			log.Warn("unknown variable "+u.Name+", ignored: did you mean "+u.Closest+"?", slog.String("variable", u.Name), slog.String("did_you_mean", u.Closest))
			continue
		}
		log.Warn("unknown variable "+u.Name+", ignored (oauth-callback-server -h lists the variables)", slog.String("variable", u.Name))
	}
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Log.Level}
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// warnAboutOpenSettings says, once at start, which protections are off.
// They are off by default only because the field client needs them off.
func warnAboutOpenSettings(cfg config.Config, log *slog.Logger) {
	if len(cfg.HTTP.Apps) == 0 {
		log.Warn("the API is open: anyone who can reach /api and knows a state can take its code; set OAUTH_CALLBACK_API_TOKENS and keep the API cluster-internal")
	}
	if cfg.HTTP.StateMinLength < 16 {
		log.Warn("states shorter than 16 characters are accepted; set OAUTH_CALLBACK_STATE_MIN_LENGTH to 32 or more if your clients send random states",
			slog.Int("state_min_length", cfg.HTTP.StateMinLength))
	}
	if cfg.UsesRedis() && len(cfg.EncryptionKeys) == 0 {
		log.Warn("Redis is used without OAUTH_CALLBACK_ENCRYPTION_KEY: stored callbacks are encrypted under a key derived from their state only, and anyone who can list the Redis keys can find short states by trying candidates; set OAUTH_CALLBACK_ENCRYPTION_KEY")
	}
}

// storeTimeout is the deadline of each store call: none for the memory
// store, which never blocks.
func storeTimeout(cfg config.Config) time.Duration {
	if !cfg.UsesRedis() {
		return 0
	}
	return cfg.Redis.Timeout
}

// openStore returns the Redis store when a URL is configured, else the
// memory store.
func openStore(ctx context.Context, cfg config.Config, getenv func(string) string, log *slog.Logger) (callback.Store, error) {
	if !cfg.UsesRedis() {
		log.Warn("using the in-memory store: run ONE replica only; set OAUTH_CALLBACK_REDIS_URL to share callbacks between replicas",
			slog.Int("max_entries", cfg.Memory.MaxEntries), slog.Int64("max_memory", cfg.Store.MaxBytes))
		return memstore.New(cfg.Store, cfg.Memory), nil
	}
	if err := signInToRedis(ctx, &cfg.Redis, cfg.RedisAWS, getenv, log); err != nil {
		return nil, err
	}
	store, err := redisstore.Open(ctx, cfg.Redis, cfg.Store, seal.New(keyBytes(cfg.EncryptionKeys)...), redisStartupWait, log)
	if err != nil {
		return nil, err // not a nil *Store in a non-nil callback.Store
	}
	return store, nil
}

func keyBytes(keys []string) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = []byte(k)
	}
	return out
}

func firstKey(keys []string) []byte {
	if len(keys) == 0 {
		return nil
	}
	return []byte(keys[0])
}
