#!/usr/bin/env bash
# `make run`: a whole WasmOperator development environment on loopback, no cluster needed.
#
#   local Kubernetes API server (tools/WasmOperator.KubeApiServer) with the WasmPlugin CRD and the
#   example manifests applied; the operator reconciling them (when built); an upstream (nginx);
#   and the data-plane proxy in stand-alone mode running the add_header plugin in front of it.
#
# Ports, all on 127.0.0.1 (override with the environment): API 6443, operator 18081, proxy 15001,
# proxy h2c/gRPC 15002, proxy admin 15000, proxy status 15021 (/ready, /stats/prometheus), upstream 18080.
# Everything it writes goes under .local-cluster/. Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
STATE=$ROOT/.local-cluster
CONFIG=${CONFIG:-Debug}
API_PORT=${API_PORT:-6443}
PROXY_PORT=${PROXY_PORT:-15001}
ADMIN_PORT=${ADMIN_PORT:-15000}
STATUS_PORT=${STATUS_PORT:-15021}
H2C_PORT=${H2C_PORT:-15002}
UPSTREAM_PORT=${UPSTREAM_PORT:-18080}
OPERATOR_PORT=${OPERATOR_PORT:-18081}
RUN_SECONDS=${RUN_SECONDS:-0}   # >0: stop by itself after that many seconds (used to smoke-test this script)
mkdir -p "$STATE/nginx/logs"
export KUBECONFIG=$STATE/kubeconfig

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
wait_http() { # url what
  for _ in $(seq 1 150); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.2; done
  echo "run: $2 did not come up at $1; see $STATE/*.log" >&2; exit 1
}
bin() { echo "$ROOT/$1/bin/$CONFIG/net10.0/$(basename "$1").dll"; }

wasm=$ROOT/examples/plugins/add_header/build/plugin.wasm
[ -f "$wasm" ] || { echo "run: $wasm is missing; run 'make plugins' first" >&2; exit 1; }

say "local Kubernetes API server on 127.0.0.1:$API_PORT (state in $STATE)"
dotnet "$(bin tools/WasmOperator.KubeApiServer)" --port "$API_PORT" --data-dir "$STATE/data" \
  --kubeconfig-out "$KUBECONFIG" >"$STATE/apiserver.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$API_PORT/version" "the API server"
kubectl apply -f crds/wasmplugin.yaml
for ns in $(grep -h '^  namespace:' examples/manifests/*.yaml | awk '{print $2}' | sort -u); do
  kubectl get namespace "$ns" >/dev/null 2>&1 || kubectl create namespace "$ns"
done
kubectl apply -f examples/manifests/
kubectl get namespace wasm-system >/dev/null 2>&1 || kubectl create namespace wasm-system
# A plugin whose module the operator can really fetch here: the add_header build, by file://.
sha=$(sha256sum "$wasm" | cut -d' ' -f1)
kubectl apply -f - <<YAML
apiVersion: extensions.wasmoperator.io/v1alpha1
kind: WasmPlugin
metadata:
  name: add-header-local
  namespace: default
spec:
  url: file://$wasm
  sha256: $sha
  pluginName: add_header
  pluginConfig:
    value: hello from WasmOperator
YAML

say "operator (health and metrics on 127.0.0.1:$OPERATOR_PORT)"
dotnet "$(bin operator/WasmOperator.Operator)" --listen-address="http://127.0.0.1:$OPERATOR_PORT" \
  --cache-directory="$STATE/module-cache" --allowed-file-roots="$ROOT/examples/plugins" \
  >"$STATE/operator.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$OPERATOR_PORT/readyz" "the operator"

say "upstream (nginx) on 127.0.0.1:$UPSTREAM_PORT"
cat >"$STATE/nginx/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $STATE/nginx/nginx.pid;
error_log $STATE/nginx/logs/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $STATE/nginx/body;
  proxy_temp_path $STATE/nginx/proxy;
  fastcgi_temp_path $STATE/nginx/fastcgi;
  uwsgi_temp_path $STATE/nginx/uwsgi;
  scgi_temp_path $STATE/nginx/scgi;
  server {
    listen 127.0.0.1:$UPSTREAM_PORT;
    location / { default_type text/plain; return 200 "hello from the upstream\n"; }
  }
}
NGINX
nginx -p "$STATE/nginx" -e "$STATE/nginx/logs/error.log" -c "$STATE/nginx/nginx.conf" &
pids+=($!)
wait_http "http://127.0.0.1:$UPSTREAM_PORT/" "nginx"

say "data-plane proxy on 127.0.0.1:$PROXY_PORT (h2c $H2C_PORT, admin $ADMIN_PORT), plugins from $STATE/plugins.yaml"
cat >"$STATE/plugins.yaml" <<YAML
# Stand-alone plugin set; edit and save: the proxy hot-reloads it.
plugins:
  - name: add-header
    namespace: default
    url: file://$wasm
    pluginName: add_header
    pluginConfig: "hello from WasmOperator"
    phase: STATS
    failStrategy: FAIL_CLOSE
YAML
# Loopback only: the proxy's own default is every interface (a sidecar's inbound listener), which on a
# developer's machine would be an open forwarder to the dev upstream.
dotnet "$(bin dataplane/WasmOperator.Proxy)" --listen 127.0.0.1 --port "$PROXY_PORT" --h2c-port "$H2C_PORT" \
  --admin-port "$ADMIN_PORT" --status-port "$STATUS_PORT" \
  --upstream "http://127.0.0.1:$UPSTREAM_PORT" --plugins "$STATE/plugins.yaml" >"$STATE/proxy.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$ADMIN_PORT/ready" "the proxy"

say "ready"
curl -sS -i "http://127.0.0.1:$PROXY_PORT/" | sed 's/^/    /'
sleep 1
kubectl get wasmplugins -A
cat <<TXT

Try:
  curl -i http://127.0.0.1:$PROXY_PORT/                     # the response carries the plugin's 'hello' header
  curl http://127.0.0.1:$ADMIN_PORT/config_dump              # what the proxy runs
  curl http://127.0.0.1:$ADMIN_PORT/stats/prometheus
  export KUBECONFIG=$KUBECONFIG
  kubectl get wp -A                                          # default/add-header-local is Ready; the examples
                                                             # point at registries this machine cannot reach
  kubectl describe wp -n default add-header-local; kubectl explain wasmplugin.spec
  curl http://127.0.0.1:$OPERATOR_PORT/metrics
  \$EDITOR $STATE/plugins.yaml                              # hot reload
Logs: $STATE/*.log.  Ctrl-C stops everything.
TXT

if [ "$RUN_SECONDS" -gt 0 ]; then sleep "$RUN_SECONDS"; else wait -n "${pids[@]}"; fi
