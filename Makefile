# The project's commands. A newcomer needs two: `make run` and `make test`.
# `sam build` calls the build-<LogicalId> targets itself (template.yaml: Metadata: BuildMethod:
# makefile, CodeUri: . because go.mod lives here), with ARTIFACTS_DIR set.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := run

# Every AWS::Serverless::Function in template.yaml; a test keeps this list and the template in
# step. A function's package is functions/<logical id without "Function", in lower case>.
FUNCTIONS := BouncesFunction ConsentFunction DeliveriesFunction ExportFunction MetaFunction NoticesFunction NotifyFunction RequestsFunction RetentionFunction RightsFunction
folder = functions/$(shell echo '$(patsubst %Function,%,$(1))' | tr '[:upper:]' '[:lower:]')

# How AWS wants a Go function: a static linux/arm64 `bootstrap` for provided.al2023, without
# the RPC shim (lambda.norpc) and without symbols, so it is small and starts fast.
LAMBDA_GOFLAGS := -tags lambda.norpc -trimpath -ldflags='-s -w'
BIN := bin
# Redocly CLI, pinned in its package-lock.json, installed by make lint with npm ci.
REDOCLY := tools/redocly
FUZZTIME ?= 5s
GO_TEST_TIMEOUT ?= 20m

.PHONY: run test lint build invoke bench deploy clean functions fuzz $(addprefix build-,$(FUNCTIONS))

## run: build and start the local server on 127.0.0.1, port PORT (default 3000), data in .local/
run:
	go run ./cmd/gdprd

## test: lint, every test once, then a short fuzz run of every Fuzz target
test: lint
	go test -count=1 -timeout $(GO_TEST_TIMEOUT) ./...
	./infra/fuzz.sh $(FUZZTIME)

## fuzz: only the fuzz run (FUZZTIME=30s make fuzz for a longer one)
fuzz:
	./infra/fuzz.sh $(FUZZTIME)

## lint: gofmt -s, go vet, staticcheck (pinned in go.mod as a tool), go.mod tidy, cfn-lint on the template and on its SAM translation, Redocly on openapi.yaml (all required under CI=true)
lint:
	@unformatted=$$(gofmt -s -l .); \
	if [[ -n "$$unformatted" ]]; then echo "gofmt -s needed on:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	go tool staticcheck ./...
	go mod tidy -diff
	@if command -v cfn-lint >/dev/null; then \
		echo "cfn-lint template.yaml"; cfn-lint template.yaml; \
		translated=$$(mktemp --suffix=.json); trap 'rm -f "$$translated"' EXIT; \
		echo "cfn-lint on its SAM translation (infra/samtranslate.py)"; \
		python3 infra/samtranslate.py template.yaml >"$$translated"; cfn-lint "$$translated"; \
	elif [[ "$${CI:-}" == true ]]; then \
		echo "cfn-lint not found, and CI=true requires it (pip install cfn-lint)"; exit 1; \
	else \
		echo "SKIP cfn-lint: not installed (pip install cfn-lint); CI=true requires it"; \
	fi
	@if command -v npm >/dev/null; then \
		if [[ ! -f $(REDOCLY)/node_modules/.package-lock.json || $(REDOCLY)/package-lock.json -nt $(REDOCLY)/node_modules/.package-lock.json ]]; then \
			npm ci --prefix $(REDOCLY) --no-audit --no-fund; \
		fi; \
		echo "redocly lint openapi.yaml"; \
		REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true npx --prefix $(REDOCLY) --no-install redocly lint --format=stylish openapi.yaml; \
	elif [[ "$${CI:-}" == true ]]; then \
		echo "npm not found, and CI=true requires it for Redocly (apt-get install npm)"; exit 1; \
	else \
		echo "SKIP redocly: npm not installed (apt-get install npm); CI=true requires it"; \
	fi

## build: every function as AWS runs it, into bin/<LogicalId>/bootstrap
build:
	@for fn in $(FUNCTIONS); do \
		$(MAKE) --no-print-directory build-$$fn ARTIFACTS_DIR=$(BIN)/$$fn; \
		ls -l $(BIN)/$$fn/bootstrap; \
	done

# One target per function, as sam build expects.
$(addprefix build-,$(FUNCTIONS)):
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set (sam build sets it; make build uses bin/)"; exit 2; }
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./$(call folder,$(patsubst build-%,%,$@))

## functions: list the functions' logical ids
functions:
	@echo $(FUNCTIONS)

## invoke: FN=MetaFunction EVENT=events/meta-health.json - sam local when it can, else gdprd
invoke:
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=MetaFunction EVENT=events/meta-health.json"; exit 2; }
	@if command -v sam >/dev/null && docker info >/dev/null 2>&1; then \
		sam build $(FN) && sam local invoke $(FN) -e $(EVENT); \
	else \
		echo "(no sam CLI or no Docker daemon: invoking through gdprd)" >&2; \
		go run ./cmd/gdprd invoke -function $(FN) -event $(EVENT); \
	fi

## bench: Go benchmarks, then Lambda bootstrap sizes and cold starts (BENCHMARKS.md)
bench:
	go test -run '^$$' -bench . -benchmem ./...
	go run ./infra/lambdabench

## deploy: sam build && sam deploy (STAGE=prod for the prod section of samconfig.toml)
deploy:
	sam build --config-env $${STAGE:-default}
	sam deploy --config-env $${STAGE:-default}

## clean: remove build output (never .local/, which holds local data)
clean:
	rm -rf $(BIN) .aws-sam
