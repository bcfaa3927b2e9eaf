# shiftgate: make demo runs the main job end to end, make test runs every check.
# Both install what they need: Debian packages through apt-get (when missing),
# Go modules through the module proxy.

GO            ?= go
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_PACKAGES := mariadb-server mariadb-client chromium nats-server
BENCH_PACKAGES := $(TEST_PACKAGES) mydumper sysbench percona-toolkit python3-pymysql
BIN           := $(CURDIR)/bin
# Modules of their own inside the tree (./... of the main module skips them).
NESTED_MODULES := examples/benchwatermill

.PHONY: test test-long demo console bench bench-sync deps bench-deps lint

test: deps lint
	$(GO) test -race -timeout 14m ./...

# The seed's end-to-end stories at full size (make test runs them smaller).
test-long: deps
	SHIFTGATE_SEED004_ROWS=1000000 $(GO) test -count 1 -timeout 90m -run '^TestSeed004$$' ./examples/shardctl/
	SHIFTGATE_OSC_ROWS=2000000 $(GO) test -race -count 1 -timeout 90m -run '^TestOnlineAlterUnderWrites$$/^modify$$' ./migrate/

lint:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	for m in $(NESTED_MODULES); do (cd $$m && $(GO) vet ./... && $(GO) run $(STATICCHECK) ./...) || exit 1; done
	GOOS=darwin $(GO) build ./... && GOOS=windows $(GO) build ./...

demo: deps
	$(GO) run ./examples/quickstart

console: deps
	$(GO) run ./examples/console

bench: bench-deps
	$(GO) run ./examples/benchcopy

bench-sync: bench-deps
	$(GO) run ./examples/benchsync

deps:
	@./.ci/install-packages $(TEST_PACKAGES)

bench-deps:
	@./.ci/install-packages $(BENCH_PACKAGES)
