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
# Every suite's results (go test -json, JUnit), read by tools/testreport at
# the end of make test to say what ran and what was skipped.
RESULTS := $(CURDIR)/bin/test-results
GOTESTSUM := $(CURDIR)/bin/gotestsum

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: build ## Run the service on :8000 with the in-memory store (no Redis needed)
	@# The built binary, not go run: go run exits 1 on Ctrl-C. And exec'd:
	@# Ctrl-C in a terminal signals make's whole process group, and a shell
	@# between make and the service would die of it after the service's
	@# clean stop, which make reports as "*** [run] Interrupt".
	OAUTH_CALLBACK_LOG_FORMAT=$${OAUTH_CALLBACK_LOG_FORMAT:-text} \
	OAUTH_CALLBACK_DRAIN_DELAY=$${OAUTH_CALLBACK_DRAIN_DELAY:-0} \
	exec bin/$(BINARY)

.PHONY: build
build: ## Build bin/oauth-callback-server (static, no cgo)
	@# go build says nothing while it compiles, minutes on a cold cache.
	@echo "Building bin/$(BINARY): a few minutes the first time (go downloads and compiles every module), seconds afterwards."
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/$(BINARY) $(PKG)

.PHONY: test
test: lint $(GOTESTSUM) ## lint, every test with -race (real-Redis tests need redis-server), fuzz smoke, test-faults, chart-test, test-clients, e2e, chaos-short and test-backends; ends with what ran and what was skipped
	rm -rf $(RESULTS) && mkdir -p $(RESULTS)
	# -parallel: the store suites on real Redis wait out TTLs in parallel
	# subtests, which sleep rather than compute.
	$(GOTESTSUM) --format standard-quiet --jsonfile $(RESULTS)/go.json -- -race -count=1 -parallel 16 ./...
	cd tools && $(GOTESTSUM) --format standard-quiet --jsonfile $(RESULTS)/tools.json -- -count=1 ./testreport/
	cd bench && $(GOTESTSUM) --format standard-quiet --jsonfile $(RESULTS)/bench.json -- -race -count=1 ./...
	cd clients/go && $(GOTESTSUM) --format standard-quiet --jsonfile $(RESULTS)/go-client.json -- -race -count=1 ./...
	# A count, not a duration: a duration -fuzztime can fail with a bare
	# "context deadline exceeded" and no crasher (golang/go#75804, fixed in
	# Go 1.27), which failed CI once.
	$(MAKE) fuzz FUZZTIME=20000x
	$(MAKE) test-faults
	$(MAKE) chart-test
	$(MAKE) test-clients
	$(MAKE) e2e
	$(MAKE) chaos-short
	$(MAKE) test-backends
	cd tools && $(GO) run ./testreport $(RESULTS)

$(GOTESTSUM): tools/go.mod tools/go.sum
	cd tools && $(GO) build -o $(GOTESTSUM) gotest.tools/gotestsum

.PHONY: check
check: fmt-check vet ## The inner loop: gofmt, vet, staticcheck and the service module's tests with -race (no faults, chart or browser)
	cd tools && $(GO) build -o ../bin/staticcheck honnef.co/go/tools/cmd/staticcheck
	bin/staticcheck ./...
	$(GO) test -race -count=1 -parallel 16 ./...
	cd clients/go && $(GO) test -race -count=1 ./...

.PHONY: test-faults
test-faults: $(GOTESTSUM) ## Fault suite: Sentinel failover, Cluster, Redis restart, 1000 slow clients (real redis-server processes); figures in docs/reliability.md
	@mkdir -p $(RESULTS)
	$(GOTESTSUM) --format standard-verbose --jsonfile $(RESULTS)/faults.json -- -tags faults -count=1 -timeout 15m -run 'TestFault' ./cmd/oauth-callback-server/

.PHONY: test-clients
test-clients: build ## The Python and TypeScript clients' shared scenarios (clients/SCENARIOS.md) against the built binary, on memory and on Redis
	@mkdir -p $(RESULTS)
	@# The package as a user installs it (README), offline, with Debian's
	@# setuptools and wheel; the tests import that copy, not src/.
	rm -rf bin/python-client
	$(PYTHON) -m pip install --quiet --no-build-isolation --no-deps --no-index --target bin/python-client ./clients/python
	cd clients/python && OCS_BIN=$(CURDIR)/bin/$(BINARY) OCS_PY_CLIENT=$(CURDIR)/bin/python-client PYTHONPATH=$(CURDIR)/bin/python-client \
		$(PYTHON) -m pytest -q -rs -p no:cacheprovider --junitxml=$(RESULTS)/python.xml
	cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent && OCS_BIN=$(CURDIR)/bin/$(BINARY) node --test \
		--test-reporter=spec --test-reporter-destination=stdout \
		--test-reporter=junit --test-reporter-destination=$(RESULTS)/typescript.xml test/scenarios.test.mjs test/pack.test.mjs test/readme.test.mjs

.PHONY: e2e
e2e: $(GOTESTSUM) ## A real sign-in: OIDC provider, oauth2 client with PKCE, headless Chromium, two replicas on Redis, and the MCP server example on the official SDK (module e2e; needs chromium, node and npm)
	@mkdir -p $(RESULTS)
	@# The MCP server example as its README builds it, from its lockfile;
	@# without npm its test is skipped (failed in CI), like Chromium's.
	@if command -v npm >/dev/null; then \
		cd examples/mcp-server-typescript && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent; \
	else echo "no npm: the MCP server example is not built, and its test will say so"; fi
	cd e2e && $(GO) vet ./... && $(GOTESTSUM) --format standard-quiet --jsonfile $(RESULTS)/e2e.json -- -count=1 -timeout 10m ./...

CHAOS_DURATION ?= 30m
.PHONY: chaos
chaos: $(GOTESTSUM) ## Chaos run: 3 replicas on Sentinel and on Cluster, random faults (kill -9, SIGSTOP, failover, packet-dropping partitions), every history checked by porcupine; CHAOS_DURATION per topology (30m), CHAOS_SEED to repeat one (needs root, nftables)
	cd chaos && $(GO) vet ./... && $(GO) test -count=1 -v -timeout 0 -run 'TestChaos$$' . -args -chaos.duration=$(CHAOS_DURATION) $(if $(CHAOS_SEED),-chaos.seed=$(CHAOS_SEED))

.PHONY: chaos-short
chaos-short: $(GOTESTSUM) ## The short chaos run in make test (about a minute per topology, and one on Sentinel with auto-pipelining), and the checker failing two deliberately broken builds
	@mkdir -p $(RESULTS)
	cd chaos && $(GO) vet ./... && $(GOTESTSUM) --format standard-verbose --jsonfile $(RESULTS)/chaos.json -- -count=1 -timeout 15m -run 'TestChaos$$|TestChaosAutoPipelined|TestTheChecker|TestModel|TestAFailing' .

# The other servers users run, Debian 13's Valkey 8.1 and Redis 8.0, in
# one Debian root the tests chroot into (OAUTH_CALLBACK_TEST_BACKEND,
# docs/development.md). The host's redis-server (Debian 12's 7.0) is the
# one every other target uses.
BACKENDS_ROOT ?= $(CURDIR)/bin/trixie
BACKENDS      ?= valkey redis
DEBIAN_MIRROR ?= http://deb.debian.org/debian

.PHONY: backends-root
backends-root: ## Build BACKENDS_ROOT (bin/trixie): Debian 13 with valkey-server and redis-server, by debootstrap (needs root and the Debian mirror; about 230 MB; kept once built)
	@if [ -x $(BACKENDS_ROOT)/usr/bin/valkey-server ] && [ -x $(BACKENDS_ROOT)/usr/bin/redis-server ]; then \
		echo "$(BACKENDS_ROOT): built already (rm -rf it to build it again)"; \
	else \
		echo "debootstrap trixie into $(BACKENDS_ROOT) (log: $(BACKENDS_ROOT).log)"; \
		rm -rf $(BACKENDS_ROOT).tmp && mkdir -p $(dir $(BACKENDS_ROOT)) && \
		{ debootstrap --variant=minbase --include=valkey-server,redis-server trixie $(BACKENDS_ROOT).tmp $(DEBIAN_MIRROR) >$(BACKENDS_ROOT).log 2>&1 \
			|| { tail -20 $(BACKENDS_ROOT).log; exit 1; }; } && \
		mv $(BACKENDS_ROOT).tmp $(BACKENDS_ROOT); \
	fi

.PHONY: test-backends
test-backends: ## On Valkey 8.1 and Redis 8.0 (BACKENDS_ROOT, built if missing): the store suite, the fault suite's core and the short chaos run (needs root; skipped, and reported so, without it outside CI)
	@mkdir -p $(RESULTS)
	@if [ "$$(id -u)" != 0 ] && [ -z "$$CI" ]; then \
		echo "SKIPPED test-backends: needs root (debootstrap, chroot, a mount namespace)"; \
		printf '<testsuite><testcase classname="make" name="test-backends"><skipped message="needs root (debootstrap, chroot, a mount namespace): Valkey 8.1 and Redis 8.0 not tested"/></testcase></testsuite>\n' >$(RESULTS)/backends.xml; \
	else \
		$(MAKE) backends-root && for b in $(BACKENDS); do $(MAKE) test-backend BACKEND=$$b || exit 1; done; \
	fi

# The fault suite's core: failover (Sentinel, with each MIN_REPLICAS, and
# Cluster), Redis restarted under a subscription and stopped under load.
# The slow-clients test is left out: it loads the service, not Redis.
BACKEND_FAULTS := TestFault(SentinelFailover|Cluster|RedisRestartResubscribes|RedisStoppedUnderLoad)$$

.PHONY: test-backend
test-backend: $(GOTESTSUM) ## test-backends on one: BACKEND=valkey or BACKEND=redis (BACKENDS_ROOT must be built)
	@mkdir -p $(RESULTS)
	@test -n "$(BACKEND)" || { echo "BACKEND=valkey or BACKEND=redis"; exit 2; }
	@# First the server's own INFO server version, and a check that the
	@# pid the tests signal is the chrooted server's.
	OAUTH_CALLBACK_TEST_BACKEND=$(BACKENDS_ROOT):$(BACKEND) $(GOTESTSUM) --format standard-verbose --jsonfile $(RESULTS)/backend-$(BACKEND)-version.json -- -count=1 -run '^TestBackend$$' ./internal/testsupport/redistest/
	OAUTH_CALLBACK_TEST_BACKEND=$(BACKENDS_ROOT):$(BACKEND) $(GOTESTSUM) --format standard-quiet --jsonfile $(RESULTS)/backend-$(BACKEND)-store.json -- -race -count=1 -parallel 16 ./internal/callback/redisstore/
	OAUTH_CALLBACK_TEST_BACKEND=$(BACKENDS_ROOT):$(BACKEND) $(GOTESTSUM) --format standard-verbose --jsonfile $(RESULTS)/backend-$(BACKEND)-faults.json -- -tags faults -count=1 -timeout 15m -run '$(BACKEND_FAULTS)' ./cmd/oauth-callback-server/
	cd chaos && OAUTH_CALLBACK_TEST_BACKEND=$(BACKENDS_ROOT):$(BACKEND) $(GOTESTSUM) --format standard-verbose --jsonfile $(RESULTS)/backend-$(BACKEND)-chaos.json -- -count=1 -timeout 15m -run 'TestChaos$$' .

.PHONY: chart-test
chart-test: $(GOTESTSUM) ## Helm lint + render every scenario, compose file and Dockerfile checks (module deploy/test; first run compiles Helm, ~3 min)
	@mkdir -p $(RESULTS)
	cd deploy/test && $(GO) vet ./... && $(GOTESTSUM) --format standard-quiet --jsonfile $(RESULTS)/chart.json -- -count=1 -timeout 20m ./...

.PHONY: chart-docs
chart-docs: ## Regenerate the chart's README values table from values.yaml
	cd deploy/test && $(GO) tool helm-docs --chart-search-root ../../charts

.PHONY: vet
vet: ## go vet (the service's module, the Go client's and bench's)
	$(GO) vet ./...
	cd clients/go && $(GO) vet ./...
	cd bench && $(GO) vet ./...

.PHONY: fmt-check
fmt-check: ## Fail if any file is not gofmt-clean
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "not gofmt-clean:"; echo "$$out"; exit 1; fi

.PHONY: fmt
fmt: ## gofmt every file
	gofmt -w .

.PHONY: tidy-check
tidy-check: ## Fail if go mod tidy would change any of the seven modules
	$(GO) mod tidy -diff
	cd chaos && $(GO) mod tidy -diff
	cd clients/go && $(GO) mod tidy -diff
	cd e2e && $(GO) mod tidy -diff
	cd tools && $(GO) mod tidy -diff
	cd deploy/test && $(GO) mod tidy -diff
	cd bench && $(GO) mod tidy -diff

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
	cd chaos && ../bin/staticcheck ./...
	cd clients/go && ../../bin/staticcheck ./...
	cd bench && ../bin/staticcheck ./...
	bin/gosec -quiet ./...
	cd clients/go && ../../bin/gosec -quiet ./...

.PHONY: fuzz
fuzz: ## Run each fuzz target (callback handler, API handler, sealed-value decoder) for FUZZTIME (default 60s; make test runs 20000 inputs each, so a broken target fails CI)
	$(GO) test -run '^$$' -fuzz FuzzCallback -fuzztime $(FUZZTIME) -fuzzminimizetime 0 ./internal/httpapi/
	$(GO) test -run '^$$' -fuzz FuzzAPI -fuzztime $(FUZZTIME) -fuzzminimizetime 0 ./internal/httpapi/
	$(GO) test -run '^$$' -fuzz FuzzOpen -fuzztime $(FUZZTIME) -fuzzminimizetime 0 ./internal/seal/

.PHONY: bench
bench: build ## Go benchmarks, then the load run against the binary (needs wrk and redis-server), with SVG charts written into docs/; see docs/benchmarks.md
	@command -v wrk >/dev/null || { echo "make bench needs wrk (apt-get install wrk)"; exit 1; }
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...
	$(GO) -C bench run ./loadbench -bin $(CURDIR)/bin/$(BINARY) -plots $(CURDIR)/docs

.PHONY: soak
soak: build ## 10-minute soak: 200 sign-ins/s against two replicas on Redis; errors, p99, RSS, goroutines per minute (not in CI)
	$(GO) -C bench run ./loadbench -bin $(CURDIR)/bin/$(BINARY) -soak $${SOAK_DURATION:-10m} -soak-rate $${SOAK_RATE:-200}

.PHONY: cover
cover: ## Tests with a coverage report in coverage.out
	$(GO) test -race -count=1 -coverprofile=coverage.out ./...
	$(GO) tool cover -func=coverage.out | tail -1

.PHONY: clean
clean: ## Remove build output
	rm -rf bin coverage.out
