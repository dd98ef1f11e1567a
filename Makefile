# Kelisim: `make test` runs every test, PostgreSQL ones included.

KELISIM_TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
export KELISIM_TEST_DATABASE_URL

GO ?= go

.PHONY: test check-postgres build vet lint run bench fuzz deps-check manifests

# Every parser of outside input has a fuzz target; make test runs each for
# FUZZTIME, and `make fuzz FUZZTIME=10m` runs them longer.
FUZZTIME ?= 3s
FUZZ_TARGETS = ./cmd/kelisim:FuzzConsentForm ./cmd/kelisim:FuzzSettingsForm ./cmd/kelisim:FuzzAdminJSON \
	./cmd/kelisim:FuzzClientAssertion ./cmd/kelisim:FuzzAuthorizationHeader \
	./consent:FuzzParseIIN ./consent:FuzzParsePhone ./consent:FuzzSelect \
	./consent:FuzzAuthorizationDetails ./consent:FuzzDeletionStatement ./consent:FuzzHistoryCursor ./consent:FuzzDocumentPayload ./consent:FuzzCarriedChallenge ./oauth:FuzzDPoPProof ./oauth:FuzzCarriedRequest \
	./adapters/signature:FuzzSignature ./adapters/registry:FuzzIssuedDocument

test: check-postgres
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) --no-print-directory fuzz

fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "fuzz $$name for $(FUZZTIME)"; \
	  for try in 1 2; do \
	    if $(GO) test $$pkg -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) >/tmp/kelisim-fuzz.log 2>&1; then break; fi; \
	    if [ $$try = 1 ] && grep -q 'context deadline exceeded' /tmp/kelisim-fuzz.log && \
	       ! grep -qE 'Failing input written|panic:|_test.go:[0-9]+:' /tmp/kelisim-fuzz.log; then \
	      echo "  the fuzzing engine's own deadline race at -fuzztime on a busy machine (golang/go#75804, fixed in Go 1.27), not a finding: once more"; \
	      continue; \
	    fi; \
	    cat /tmp/kelisim-fuzz.log; exit 1; \
	  done; \
	done

# check-postgres says exactly what is missing when PostgreSQL is not there.
# Without it the PostgreSQL tests skip locally; with CI=true they fail.
check-postgres:
	@$(GO) run ./cmd/kelisim-pgcheck "$$KELISIM_TEST_DATABASE_URL" || { \
	  echo "make test: PostgreSQL is not reachable at KELISIM_TEST_DATABASE_URL=$$KELISIM_TEST_DATABASE_URL"; \
	  echo "  start it (pg_ctlcluster --skip-systemctl-redirect \$$(ls /etc/postgresql) main start),"; \
	  echo "  install it (apt-get install -y postgresql), or point KELISIM_TEST_DATABASE_URL at one."; \
	  if [ "$$CI" = "true" ]; then exit 1; fi; \
	  echo "  Continuing: PostgreSQL tests will be skipped."; }

build:
	$(GO) build -o bin/kelisim ./cmd/kelisim

# lint runs golangci-lint at the pinned version (the linters and their
# settings are in .golangci.yml). The binary is built once per machine
# into GOPATH/bin under a versioned name, so a clean clone reuses it.
GOLANGCI_LINT_VERSION = v2.15.0
GOLANGCI_LINT = $(shell $(GO) env GOPATH)/bin/golangci-lint-$(GOLANGCI_LINT_VERSION)

lint: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	@echo "building golangci-lint $(GOLANGCI_LINT_VERSION) (once per machine)"
	@tmp=$$(mktemp -d) && GOBIN=$$tmp $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION) && \
	  mkdir -p $(dir $(GOLANGCI_LINT)) && mv $$tmp/golangci-lint $@ && rmdir $$tmp

run:
	$(GO) run ./cmd/kelisim serve

# manifests renders the Helm chart with its default values into
# deploy/k8s/kelisim.yaml, for those who apply manifests without Helm;
# make test fails while the two differ.
manifests:
	$(GO) test ./deploy/helm -run TestRawManifestsAreTheChart -update

# deps-check lists the modules compiled into Kelisim's packages and tests
# (not the whole module graph, most of which is never built) that have a
# newer release on the module proxy: direct ones first, then indirect.
# Pin the version it names (go get module@version); the proxy refuses
# some @latest look-ups, and a release may need a newer Go.
deps-check:
	@mods=$$($(GO) list -deps -test -f '{{with .Module}}{{if not .Main}}{{.Path}}{{end}}{{end}}' ./... | sort -u) && \
	  $(GO) list -m -u -e -f '{{if .Update}}{{if .Indirect}}indirect{{else}}direct  {{end}} {{.Path}} {{.Version}} -> {{.Update.Version}}{{end}}{{if .Error}}unknown  {{.Path}}: {{.Error.Err}}{{end}}' $$mods | \
	  grep . | sort || echo "every module compiled in is at its newest release"

# bench starts a PostgreSQL cluster of its own (a quarter of the memory as
# shared_buffers in huge pages, as SCALE.md advises; as root it reserves
# them, HUGE_PAGES=0 runs without) and a gateway on it, runs every load
# scenario at concurrency 16 and 64, on an empty database and, in turns
# with it, on one loaded with a year of a national service (2 M grants,
# 10 M history rows, 1 M tokens; LOAD=0 skips it, GRANTS, HISTORY and
# TOKENS size it), and
# writes BENCHMARKS.md. Not part of make test.
bench:
	bash cmd/kelisim-bench/bench.sh
