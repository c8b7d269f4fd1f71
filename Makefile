# oauth-callback-server — `make help` lists the targets.

BINARY  := oauth-callback-server
PKG     := ./cmd/oauth-callback-server
GO      ?= go
# Debian's python3-httpx and python3-pytest belong to the system Python.
PYTHON  ?= /usr/bin/python3
FUZZTIME ?= 60s
# The tag without its v (v0.1.0 -> 0.1.0), as GoReleaser and the image stamp it.
VERSION ?= $(shell (git describe --tags --always --dirty 2>/dev/null || echo dev) | sed 's/^v//')
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: ## Run the service on :8000 with the in-memory store (no Redis needed)
	OAUTH_CALLBACK_LOG_FORMAT=$${OAUTH_CALLBACK_LOG_FORMAT:-text} \
	OAUTH_CALLBACK_DRAIN_DELAY=$${OAUTH_CALLBACK_DRAIN_DELAY:-0} \
	$(GO) run $(PKG)

.PHONY: build
build: ## Build bin/oauth-callback-server (static, no cgo)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/$(BINARY) $(PKG)

.PHONY: test
test: lint ## lint, every test with -race (real-Redis tests need redis-server), fuzz smoke, test-faults, chart-test, test-clients and e2e
	# -parallel: the store suites on real Redis wait out TTLs in parallel
	# subtests, which sleep rather than compute.
	$(GO) test -race -count=1 -parallel 16 ./...
	# A count, not a duration: a duration -fuzztime can fail with a bare
	# "context deadline exceeded" and no crasher (golang/go#75804, fixed in
	# Go 1.27), which failed CI once.
	$(MAKE) fuzz FUZZTIME=20000x
	$(MAKE) test-faults
	$(MAKE) chart-test
	$(MAKE) test-clients
	$(MAKE) e2e

.PHONY: check
check: fmt-check vet ## The inner loop: gofmt, vet, staticcheck and the service module's tests with -race (no faults, chart or browser)
	cd tools && $(GO) build -o ../bin/staticcheck honnef.co/go/tools/cmd/staticcheck
	bin/staticcheck ./...
	$(GO) test -race -count=1 -parallel 16 ./...

.PHONY: test-faults
test-faults: ## Fault suite: Sentinel failover, Cluster, Redis restart, 1000 slow clients (real redis-server processes); figures in docs/reliability.md
	$(GO) test -tags faults -count=1 -timeout 15m -run 'TestFault' -v ./cmd/oauth-callback-server/

.PHONY: test-clients
test-clients: build ## The Python and TypeScript clients' shared scenarios (clients/SCENARIOS.md) against the built binary, on memory and on Redis
	cd clients/python && OCS_BIN=$(CURDIR)/bin/$(BINARY) $(PYTHON) -m pytest -q -p no:cacheprovider
	cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent && OCS_BIN=$(CURDIR)/bin/$(BINARY) node --test --test-reporter=spec test/scenarios.test.mjs

.PHONY: e2e
e2e: ## A real sign-in: OIDC provider, oauth2 client with PKCE, headless Chromium, two replicas on Redis (module e2e; needs chromium)
	cd e2e && $(GO) vet ./... && $(GO) test -count=1 -timeout 10m ./...

.PHONY: chart-test
chart-test: ## Helm lint + render every scenario, compose file and Dockerfile checks (module deploy/test; first run compiles Helm, ~3 min)
	cd deploy/test && $(GO) vet ./... && $(GO) test -count=1 -timeout 20m ./...

.PHONY: chart-docs
chart-docs: ## Regenerate the chart's README values table from values.yaml
	cd deploy/test && $(GO) tool helm-docs --chart-search-root ../../charts

.PHONY: vet
vet: ## go vet (the service's module)
	$(GO) vet ./...

.PHONY: fmt-check
fmt-check: ## Fail if any file is not gofmt-clean
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "not gofmt-clean:"; echo "$$out"; exit 1; fi

.PHONY: fmt
fmt: ## gofmt every file
	gofmt -w .

.PHONY: tidy-check
tidy-check: ## Fail if go mod tidy would change any of the four modules
	$(GO) mod tidy -diff
	cd e2e && $(GO) mod tidy -diff
	cd tools && $(GO) mod tidy -diff
	cd deploy/test && $(GO) mod tidy -diff

.PHONY: lint
lint: vet fmt-check tidy-check ## go vet, gofmt, go mod tidy, staticcheck, gosec, actionlint and goreleaser check (versions pinned in tools/go.mod)
	cd tools && $(GO) build -o ../bin/staticcheck honnef.co/go/tools/cmd/staticcheck
	cd tools && $(GO) build -o ../bin/gosec github.com/securego/gosec/v2/cmd/gosec
	cd tools && $(GO) build -o ../bin/actionlint github.com/rhysd/actionlint/cmd/actionlint
	cd tools && $(GO) build -o ../bin/goreleaser github.com/goreleaser/goreleaser/v2
	bin/actionlint
	bin/goreleaser check
	bin/staticcheck ./...
	cd deploy/test && ../../bin/staticcheck ./...
	cd e2e && ../bin/staticcheck ./...
	bin/gosec -quiet ./...

.PHONY: fuzz
fuzz: ## Run each fuzz target (callback handler, API handler, sealed-value decoder) for FUZZTIME (default 60s; make test runs 20000 inputs each, so a broken target fails CI)
	$(GO) test -run '^$$' -fuzz FuzzCallback -fuzztime $(FUZZTIME) -fuzzminimizetime 0 ./internal/httpapi/
	$(GO) test -run '^$$' -fuzz FuzzAPI -fuzztime $(FUZZTIME) -fuzzminimizetime 0 ./internal/httpapi/
	$(GO) test -run '^$$' -fuzz FuzzOpen -fuzztime $(FUZZTIME) -fuzzminimizetime 0 ./internal/seal/

.PHONY: bench
bench: build ## Go benchmarks, then the load run against the binary (needs wrk and redis-server); see docs/benchmarks.md
	@command -v wrk >/dev/null || { echo "make bench needs wrk (apt-get install wrk)"; exit 1; }
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...
	$(GO) run ./bench/loadbench -bin bin/$(BINARY)

.PHONY: soak
soak: build ## 10-minute soak: 200 sign-ins/s against two replicas on Redis; errors, p99, RSS, goroutines per minute (not in CI)
	$(GO) run ./bench/loadbench -bin bin/$(BINARY) -soak $${SOAK_DURATION:-10m} -soak-rate $${SOAK_RATE:-200}

.PHONY: cover
cover: ## Tests with a coverage report in coverage.out
	$(GO) test -race -count=1 -coverprofile=coverage.out ./...
	$(GO) tool cover -func=coverage.out | tail -1

.PHONY: clean
clean: ## Remove build output
	rm -rf bin coverage.out
