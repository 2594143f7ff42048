# syft-sidecar: build, test, demo, bench. See README.md.
GO        ?= go
BIN       := bin
SIDECAR   := $(BIN)/syft-sidecar
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
PROTO_DIR := api/proto

.PHONY: all build proto lint test test-go test-python demo bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(SIDECAR) ./cmd/syft-sidecar
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/echo ./clients/go/examples/echo

# Regenerates the Go code from the .proto with the plugins pinned in go.mod's tool block.
proto:
	PATH="$(CURDIR)/$(BIN)/tools:$$PATH" ; \
	mkdir -p $(BIN)/tools && \
	$(GO) build -o $(BIN)/tools/ google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc && \
	protoc -I $(PROTO_DIR) \
	  --plugin=protoc-gen-go=$(BIN)/tools/protoc-gen-go \
	  --plugin=protoc-gen-go-grpc=$(BIN)/tools/protoc-gen-go-grpc \
	  --go_out=$(PROTO_DIR) --go_opt=paths=source_relative \
	  --go-grpc_out=$(PROTO_DIR) --go-grpc_opt=paths=source_relative \
	  $(PROTO_DIR)/syftsidecar/v1/*.proto
