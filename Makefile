# syft-sidecar: build, test, demo, bench. See README.md.
GO        ?= go
BIN       := bin
VENV      := .venv
PY        := $(VENV)/bin/python
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
PROTO_DIR := api/proto
# The peer tests use the real syft-rpc from PyPI, pinned to the version whose
# format we are byte-compatible with.
PY_TEST_DEPS := syft-rpc==0.4.1 pytest

.PHONY: all build proto proto-check lint test test-go test-peer demo bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/syft-sidecar ./cmd/syft-sidecar
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/echo ./clients/go/examples/echo

# A sidecar on a throw-away data dir, the Go echo handler, one request, its
# response printed.
demo: build
	./scripts/demo.sh

# Go tests (with -race) and the peer tests; both use the real syft-rpc,
# which SYFTRPC_PYTHON points the Go format tests at.
test: test-go test-peer

test-go: $(VENV)/.deps
	SYFTRPC_PYTHON=$(CURDIR)/$(PY) $(GO) test -race -count=1 ./...

test-peer: build $(VENV)/.deps
	$(PY) -m pytest -q tests/peer

$(VENV)/.deps:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check $(PY_TEST_DEPS)
	touch $@

# Regenerates the Go code from the .proto with the plugins pinned in go.mod's
# tool block.
proto:
	$(GO) build -o $(BIN)/tools/ google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc
	protoc -I $(PROTO_DIR) \
	  --plugin=protoc-gen-go=$(BIN)/tools/protoc-gen-go \
	  --plugin=protoc-gen-go-grpc=$(BIN)/tools/protoc-gen-go-grpc \
	  --go_out=$(PROTO_DIR) --go_opt=paths=source_relative \
	  --go-grpc_out=$(PROTO_DIR) --go-grpc_opt=paths=source_relative \
	  $(PROTO_DIR)/syftsidecar/v1/*.proto

# Fails if the committed generated code is not what make proto produces.
proto-check: proto
	git diff --exit-code -- $(PROTO_DIR)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	buf lint

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./test/bench/

clean:
	rm -rf $(BIN) $(VENV)
