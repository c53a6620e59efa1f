# WasmOperator — build, test and run entry points. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

DOTNET ?= dotnet
CONFIG ?= Debug
SLN := WasmOperator.sln
APT_PACKAGES := docker-registry wabt wrk nginx
export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE := 1

.PHONY: help deps apt-deps npm-deps plugins build test run validate crds bench bench-proxy bench-proxy-smoke fmt clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

deps: apt-deps npm-deps ## install what a fresh Debian machine lacks (idempotent)
	@command -v kubectl >/dev/null || { echo "deps: kubectl is not on PATH; the local API server tests drive it. Install kubectl (any 1.2x client) and retry." >&2; exit 1; }

apt-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else echo "deps: apt packages present ($(APT_PACKAGES))"; fi

npm-deps:
	@if [ -f examples/plugins/package.json ]; then \
	  if [ ! -d examples/plugins/node_modules ] || [ examples/plugins/package-lock.json -nt examples/plugins/node_modules ]; then \
	    echo "deps: npm ci (examples/plugins)"; (cd examples/plugins && npm ci --no-audit --no-fund --loglevel=error); \
	  else echo "deps: npm packages present"; fi; \
	fi

plugins: npm-deps ## build the example Proxy-Wasm plugins from source (AssemblyScript)
	@if [ -x examples/plugins/build.sh ]; then examples/plugins/build.sh; fi

build: ## build every project
	$(DOTNET) build $(SLN) -c $(CONFIG) -nologo -clp:NoSummary

test: deps plugins build ## deps + build + every test
	$(DOTNET) test $(SLN) -c $(CONFIG) --no-build -nologo --filter "Category!=Bench" 2>&1 | tee .test-output.log
	@.ci/summarize .test-output.log

run: deps plugins build ## the dev environment: local API server, operator, upstream, proxy with add_header (Ctrl-C stops)
	CONFIG=$(CONFIG) deploy/dev/run.sh

validate: build ## validate manifests against the CRD (MANIFESTS=dir-or-files, default examples/manifests)
	$(DOTNET) run --project tools/WasmOperator.CrdGen -c $(CONFIG) --no-build -- validate $(or $(MANIFESTS),examples/manifests)

crds: ## regenerate crds/wasmplugin.yaml from the C# API types
	$(DOTNET) run --project tools/WasmOperator.CrdGen -c $(CONFIG) -- generate crds/wasmplugin.yaml

bench: deps plugins ## BenchmarkDotNet benchmarks (Release) and the operator's 500-plugin burst
	$(DOTNET) run --project tests/WasmOperator.Benchmarks -c Release -- --filter '*'
	$(DOTNET) test tests/WasmOperator.Operator.Tests -c Release --filter Category=Bench --logger 'console;verbosity=detailed'

bench-proxy: deps plugins ## wrk: upstream, nginx, our proxy with 0, 1 and 5 plugins (ratios; the script builds the proxy)
	dataplane/WasmOperator.Proxy/bench/bench-proxy.sh

bench-proxy-smoke: deps plugins ## bench-proxy cut to one 1 s round: every case answers as it should, without errors (CI runs it; no numbers to keep)
	DURATION=1s ROUNDS=1 WARMUP=1s MAX_WARMUP=1s dataplane/WasmOperator.Proxy/bench/bench-proxy.sh

fmt: ## format the C# code
	$(DOTNET) format $(SLN)

clean:
	$(DOTNET) clean $(SLN) -nologo >/dev/null; rm -rf examples/plugins/*/build .test-output.log .local-cluster
