#!/usr/bin/env bash
# make bench-proxy: wrk against (a) the upstream directly, (b) nginx proxying to it, (c) our proxy
# with no plugin, (d) with add_header, (e) with five plugins. Prints req/s and p50/p99 latency, and
# each as a ratio to (a) and (b). A benchmark, not a test: one run, numbers depend on the machine.
# An extra row, (d0), runs the same header edit as a plugin written in WAT without an SDK: the host's own
# cost of one plugin, apart from what the AssemblyScript SDK does in every callback.
# The upstream and the reference proxy are separate nginx processes (a worker per core each, as our proxy has an event thread per core), so (b) has the
# same shape as (c): wrk -> proxy process -> upstream process. For each proxy row the proxy's own CPU
# time per request (user and kernel, from /proc during the measured run) is printed too: on a shared
# 2-core VM it varies far less between runs than req/s does. Our proxy's rows also print the bytes its runtime allocated per
# request (dotnet_gc_allocated_bytes_total over proxy_requests_total, from its /stats/prometheus): a number that does not
# depend on the machine's load at all.
# Our proxy is warmed until .NET's tiered compilation is done: its background JIT thread still used ~15 % of the proxy's CPU
# 5 s into a run (4 us of ~27 per request; about 1 % after 25 s), so a fixed short warm-up measured the JIT, and more of it in
# the plugin rows, which run more code. Warm-up goes on in WARMUP steps until that thread used under 2 % of the process's CPU
# in the last step, at most MAX_WARMUP; nginx gets one step.
# Knobs: DURATION (10s), CONNECTIONS (32), THREADS (2), WARMUP (5s per step), MAX_WARMUP (60s), CONFIG (Release).
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$PWD
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-5s}
MAX_WARMUP=${MAX_WARMUP:-60s}
CONFIG=${CONFIG:-Release}
PLUGINS=$ROOT/examples/plugins

for tool in wrk nginx dotnet wat2wasm; do
  command -v "$tool" >/dev/null || { echo "bench-proxy: $tool is missing (make deps)" >&2; exit 1; }
done
for p in add_header remove_headers showcase; do
  [ -f "$PLUGINS/$p/build/plugin.wasm" ] || { echo "bench-proxy: $PLUGINS/$p/build/plugin.wasm missing (make plugins)" >&2; exit 1; }
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
UP=$(free_port); NGX=$(free_port); PX=$(free_port); ADMIN=$(free_port)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "bench-proxy: building the proxy ($CONFIG)"
dotnet build dataplane/WasmOperator.Proxy/WasmOperator.Proxy.csproj -c "$CONFIG" -nologo -clp:NoSummary -v q >/dev/null
PROXY_DLL=$ROOT/dataplane/WasmOperator.Proxy/bin/$CONFIG/net10.0/WasmOperator.Proxy.dll

# nginx is the upstream (a fixed 200) and, in a second process, the reference proxy (b), keep-alive to the upstream.
nginx_conf() { # name server-block
  mkdir -p "$WORK/$1"
  cat > "$WORK/$1/nginx.conf" <<NGINX
daemon off;
worker_processes auto;
pid $WORK/$1/nginx.pid;
error_log $WORK/$1/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/$1/body;
  proxy_temp_path $WORK/$1/proxy;
  fastcgi_temp_path $WORK/$1/fastcgi;
  uwsgi_temp_path $WORK/$1/uwsgi;
  scgi_temp_path $WORK/$1/scgi;
  $2
}
NGINX
}
nginx_conf upstream "server { listen 127.0.0.1:$UP; location / { default_type text/plain; return 200 \"hello from the workload\\n\"; } }"
nginx_conf proxy "upstream workload { server 127.0.0.1:$UP; keepalive 128; }
  server { listen 127.0.0.1:$NGX; location / { proxy_pass http://workload; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
nginx -c "$WORK/upstream/nginx.conf" -p "$WORK/upstream" &
PIDS+=($!)
nginx -c "$WORK/proxy/nginx.conf" -p "$WORK/proxy" &
NGX_PID=$!
PIDS+=($NGX_PID)

plugin() { # name wasm root config
  printf -- '- name: %s\n  url: file://%s\n  pluginName: %s\n  pluginConfig: "%s"\n' "$1" "$PLUGINS/$2/build/plugin.wasm" "$3" "$4"
}
# The plugin files get a directory of their own: the proxy watches it, and log writes next to them would wake the watcher.
CONF=$WORK/plugins; mkdir -p "$CONF"
echo "plugins: []" > "$CONF/none.yaml"
{ echo "plugins:"; plugin add add_header add_header bench; } > "$CONF/add_header.yaml"
wat2wasm "$ROOT/dataplane/WasmOperator.Proxy/bench/add_header.wat" -o "$WORK/add_header_wat.wasm"
printf 'plugins:\n- name: add\n  url: file://%s\n' "$WORK/add_header_wat.wasm" > "$CONF/add_header_wat.yaml"
{ echo "plugins:"; plugin add1 add_header add_header one; plugin add2 add_header add_header two; plugin add3 add_header add_header three;
  plugin rm remove_headers remove_headers x-nothing; plugin show showcase showcase ""; } > "$CONF/five.yaml"

wait_http() {
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "bench-proxy: $1 did not come up" >&2; exit 1
}

# CPU ticks (user kernel) of a process and its children (nginx's workers are children of its master).
ticks() {
  local pids="$1 $(pgrep -P "$1" | tr '\n' ' ')"
  for p in $pids; do awk '{print $14, $15}' "/proc/$p/stat" 2>/dev/null; done | awk '{u+=$1; k+=$2} END {print u+0, k+0}'
}

# CPU ticks (user + kernel) of .NET's tiered compilation thread in a process (0 if it has none, as nginx).
jit_ticks() {
  local t s r
  for t in /proc/"$1"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = ".NET Tiered Com" ] || continue
    s=$(cat "$t/stat"); r=${s##*) }; set -- $r
    echo $(( ${12} + ${13} )); return
  done
  echo 0
}

# Load in WARMUP steps until the JIT is quiet (see the top of this file); prints the seconds it took to stderr.
warm() { # url [pid]
  local step=${WARMUP%s} max=${MAX_WARMUP%s} spent=0 j0 j1 p0 p1
  while :; do
    [ -n "${2:-}" ] && { j0=$(jit_ticks "$2"); p0=$(ticks "$2"); }
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${step}s" "$1" >/dev/null
    spent=$((spent + step))
    [ -n "${2:-}" ] || break
    j1=$(jit_ticks "$2"); p1=$(ticks "$2")
    read -r pu pk <<<"$p0"; read -r qu qk <<<"$p1"
    (( (j1 - j0) * 50 <= (qu + qk - pu - pk) )) && break
    (( spent >= max )) && { echo "bench-proxy: the JIT was still busy after ${spent}s of warm-up" >&2; break; }
  done
  echo "bench-proxy:   warmed up for ${spent}s" >&2
}

# Bytes the proxy's runtime allocated so far and the requests it answered, from its admin listener ("0 0" without one).
allocated() { # admin-url
  [ -n "$1" ] || { echo "0 0"; return; }
  curl -fsS "$1/stats/prometheus" | awk '/^dotnet_gc_allocated_bytes_total / {b=$2} /^proxy_requests_total\{/ {r+=$2} END {printf "%.0f %.0f\n", b, r}'
}

# Prints "rps p50_ms p99_ms user_us kernel_us alloc_bytes" for one wrk run; the CPU columns are the given process's per
# request, the last what our proxy allocated per request (from its metrics; 0 for nginx).
run_wrk() { # url [pid] [admin-url]
  warm "$1" "${2:-}"
  local before="0 0" after="0 0" hz m0 m1
  hz=$(getconf CLK_TCK)
  [ -n "${2:-}" ] && before=$(ticks "$2")
  m0=$(allocated "${3:-}")
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$1")
  [ -n "${2:-}" ] && after=$(ticks "$2")
  m1=$(allocated "${3:-}")
  echo "$out" | awk -v b="$before" -v a="$after" -v hz="$hz" -v m="$m0 $m1" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec:/ { rps=$2 }
    /requests in/ { n=$1 }
    $1=="50%" { p50=ms($2) }
    $1=="99%" { p99=ms($2) }
    END { split(b, x, " "); split(a, y, " "); split(m, z, " ");
          printf "%.0f %.3f %.3f %.2f %.2f %.0f\n", rps, p50, p99, (y[1]-x[1])*1e6/hz/n, (y[2]-x[2])*1e6/hz/n, (z[4] > z[2]) ? (z[3]-z[1])/(z[4]-z[2]) : 0 }'
}

declare -A RESULT
wait_http "http://127.0.0.1:$UP/"
wait_http "http://127.0.0.1:$NGX/"
echo "bench-proxy: (a) upstream direct";   RESULT[a]=$(run_wrk "http://127.0.0.1:$UP/")
echo "bench-proxy: (b) nginx proxy";       RESULT[b]=$(run_wrk "http://127.0.0.1:$NGX/" "$NGX_PID")

run_proxy() { # label yaml
  dotnet "$PROXY_DLL" --listen 127.0.0.1 --port "$PX" --h2c-port 0 --status-port 0 --admin-port "$ADMIN" \
    --upstream "http://127.0.0.1:$UP" --plugins "$2" >"$WORK/proxy-$1.log" 2>&1 &
  local pid=$!
  wait_http "http://127.0.0.1:$ADMIN/ready"
  RESULT[$1]=$(run_wrk "http://127.0.0.1:$PX/" "$pid" "http://127.0.0.1:$ADMIN")
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
echo "bench-proxy: (c) proxy, no plugin";  run_proxy c "$CONF/none.yaml"
echo "bench-proxy: (d) proxy, add_header"; run_proxy d "$CONF/add_header.yaml"
echo "bench-proxy: (d0) proxy, add_header in WAT (no SDK)"; run_proxy d0 "$CONF/add_header_wat.yaml"
echo "bench-proxy: (e) proxy, 5 plugins";  run_proxy e "$CONF/five.yaml"

read -r ARPS AP50 AP99 _ _ <<<"${RESULT[a]}"
read -r BRPS BP50 BP99 _ _ <<<"${RESULT[b]}"
echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION on $(nproc) cores (one run); cpu = the proxy process's user+kernel microseconds per request; alloc = bytes our proxy allocated per request"
printf '%-24s %10s %9s %9s | %8s %8s | %8s %8s | %8s %8s | %14s | %6s\n' case req/s p50ms p99ms rps/a rps/b p50/a p50/b p99/a p99/b "cpu us (user)" alloc
for k in a b c d d0 e; do
  read -r RPS P50 P99 USR SYS ALLOC <<<"${RESULT[$k]}"
  case $k in a) name="(a) upstream";; b) name="(b) nginx";; c) name="(c) proxy, no plugin";; d) name="(d) proxy, add_header";; d0) name="(d0) add_header, WAT";; e) name="(e) proxy, 5 plugins";; esac
  awk -v n="$name" -v r="$RPS" -v p5="$P50" -v p9="$P99" -v ar="$ARPS" -v br="$BRPS" -v a5="$AP50" -v b5="$BP50" -v a9="$AP99" -v b9="$BP99" -v u="$USR" -v s="$SYS" -v k="$k" -v al="$ALLOC" \
    'BEGIN { cpu = (k == "a") ? "-" : sprintf("%.1f (%.1f)", u + s, u); alloc = (k == "a" || k == "b") ? "-" : sprintf("%d", al);
             printf "%-24s %10d %9.3f %9.3f | %8.2f %8.2f | %8.2f %8.2f | %8.2f %8.2f | %14s | %6s\n", n, r, p5, p9, r/ar, r/br, p5/a5, p5/b5, p9/a9, p9/b9, cpu, alloc }'
done
read -r CRPS _ _ _ _ <<<"${RESULT[c]}"; read -r DRPS _ _ _ _ <<<"${RESULT[d]}"; read -r D0RPS _ _ _ _ <<<"${RESULT[d0]}"
awk -v c="$CRPS" -v b="$BRPS" -v d="$DRPS" -v d0="$D0RPS" 'BEGIN {
  printf "targets: (c) >= nginx: %s (%.2f); (d) >= 90%% of (c): %s (%.2f); without the SDK (d0/c): %.2f\n", (c>=b?"met":"missed"), c/b, (d>=0.9*c?"met":"missed"), d/c, d0/c }'
