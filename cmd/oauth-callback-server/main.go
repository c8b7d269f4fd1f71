// Command oauth-callback-server receives OAuth 2.0 authorization-code
// redirects and hands each one, exactly once, to the MCP server that polls
// for it. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/oauth-callback-server/oauth-callback-server/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one ends the process at once.
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args, os.Environ(), os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "oauth-callback-server: %v\n", err)
		var cerr *config.Error
		if errors.As(err, &cerr) || errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// errUsage is a command line that is not understood.
var errUsage = errors.New("usage error")

// usageError wraps a flag error so that main exits with 2.
func usageError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return fmt.Errorf("%w: %w", errUsage, err)
}
