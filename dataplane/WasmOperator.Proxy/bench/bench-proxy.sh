#!/usr/bin/env bash
# make bench-proxy: wrk against (a) the upstream directly, (b) nginx proxying to it, (c) our proxy
# with no plugin, (d) with add_header, (e) with five plugins. Prints req/s and p50/p99 latency, and
# each as a ratio to (a) and (b). A benchmark, not a test: numbers depend on the machine. All cases run side by side and
# the measured wrk runs go round them ROUNDS times (see below); each number printed is the median of its rounds.
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
# BASELINE=<git revision> also builds that revision (in a temporary worktree) and runs its (c) and (d0) in the same rounds,
# as (c@base) and (d0@base): a change's own effect, measured side by side, with (c)/(c@base) and (d0)/(d0@base) printed.
# Knobs: DURATION (4s, one measured run), ROUNDS (5), BASELINE (none), CONNECTIONS (32), THREADS (2), WARMUP (5s per step), MAX_WARMUP (60s), CONFIG (Release).
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$PWD
DURATION=${DURATION:-4s}
ROUNDS=${ROUNDS:-5}
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
  git worktree prune 2>/dev/null || true
}
trap cleanup EXIT

echo "bench-proxy: building the proxy ($CONFIG)"
dotnet build dataplane/WasmOperator.Proxy/WasmOperator.Proxy.csproj -c "$CONFIG" -nologo -clp:NoSummary -v q >/dev/null
PROXY_DLL=$ROOT/dataplane/WasmOperator.Proxy/bin/$CONFIG/net10.0/WasmOperator.Proxy.dll
BASE_DLL=""
if [ -n "${BASELINE:-}" ]; then
  echo "bench-proxy: building the baseline $BASELINE ($CONFIG)"
  git worktree add -q --detach "$WORK/base-src" "$BASELINE"
  dotnet build "$WORK/base-src/dataplane/WasmOperator.Proxy/WasmOperator.Proxy.csproj" -c "$CONFIG" -o "$WORK/base-bin" -nologo -clp:NoSummary -v q >/dev/null
  git worktree remove --force "$WORK/base-src"
  BASE_DLL=$WORK/base-bin/WasmOperator.Proxy.dll
fi

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

# Waits until the URL answers 2xx, up to WAIT_SECONDS (30; four .NET proxies start at once on 2 cores); a proxy's data port
# is not waited on, its /ready is, and check_answer then judges what the data port answers.
wait_http() { # url [log]
  local deadline=$((SECONDS + ${WAIT_SECONDS:-30}))
  while ((SECONDS < deadline)); do curl -fsS -m 5 -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "bench-proxy: $1 did not come up in ${WAIT_SECONDS:-30} s" >&2
  [ -z "${2:-}" ] || { echo "the end of its log:" >&2; tail -5 "$2" >&2; }
  exit 1
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
    (( spent >= max )) && { (( max <= step )) || echo "bench-proxy: the JIT was still busy after ${spent}s of warm-up" >&2; break; }
  done
  echo "bench-proxy:   warmed up for ${spent}s" >&2
}

# Bytes the proxy's runtime allocated so far and the requests it answered, from its admin listener ("0 0" without one).
allocated() { # admin-url
  [ -n "$1" ] || { echo "0 0"; return; }
  curl -fsS "$1/stats/prometheus" | awk '/^dotnet_gc_allocated_bytes_total / {b=$2} /^proxy_requests_total\{/ {r+=$2} END {printf "%.0f %.0f\n", b, r}'
}

# Prints "rps p50_ms p99_ms user_us kernel_us alloc_bytes non2xx socket_errors" for one wrk run of DURATION; the CPU columns
# are the given process's per request, alloc what our proxy allocated per request (from its metrics; 0 for nginx), the last two
# wrk's count of answers other than 2xx/3xx and of socket errors (connect, read, write, timeout), which fail the benchmark.
measure() { # url [pid] [admin-url]
  local before="0 0" after="0 0" hz m0 m1
  hz=$(getconf CLK_TCK)
  [ -n "${2:-}" ] && before=$(ticks "$2")
  m0=$(allocated "${3:-}")
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$1" 2>&1 || true)
  [ -n "${2:-}" ] && after=$(ticks "$2")
  m1=$(allocated "${3:-}")
  echo "$out" | awk -v b="$before" -v a="$after" -v hz="$hz" -v m="$m0 $m1" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec:/ { rps=$2 }
    /requests in/ { n=$1 }
    $1=="50%" { p50=ms($2) }
    $1=="99%" { p99=ms($2) }
    /Non-2xx or 3xx responses:/ { bad=$NF }
    /Socket errors:/ { gsub(",", ""); errors=$4+$6+$8+$10 }
    END { if (n + 0 == 0) { errors++; n = 1 }  # wrk could not run (a proxy that is down): no requests, counted as an error
          split(b, x, " "); split(a, y, " "); split(m, z, " ");
          printf "%.0f %.3f %.3f %.2f %.2f %.0f %d %d\n", rps, p50, p99, (y[1]-x[1])*1e6/hz/n, (y[2]-x[2])*1e6/hz/n, (z[4] > z[2]) ? (z[3]-z[1])/(z[4]-z[2]) : 0, bad, errors }'
}

# Every case runs at once, each on its own port (an idle proxy costs next to nothing), and the measured runs go round
# the cases ROUNDS times, so a change in the machine's speed (this VM's moves by 15-30 % within minutes) falls on every
# case alike instead of on whichever case ran then. Each round starts at a different case.
declare -A URL PID ADMIN_URL
URL[a]="http://127.0.0.1:$UP/"; PID[a]=""; ADMIN_URL[a]=""
URL[b]="http://127.0.0.1:$NGX/"; PID[b]=$NGX_PID; ADMIN_URL[b]=""
start_proxy() { # case yaml [dll]
  local port admin
  port=$(free_port); admin=$(free_port)
  dotnet "${3:-$PROXY_DLL}" --listen 127.0.0.1 --port "$port" --h2c-port 0 --status-port 0 --admin-port "$admin" \
    --upstream "http://127.0.0.1:$UP" --plugins "$2" >"$WORK/proxy-$1.log" 2>&1 &
  PID[$1]=$!; PIDS+=($!)
  URL[$1]="http://127.0.0.1:$port/"; ADMIN_URL[$1]="http://127.0.0.1:$admin"
}
start_proxy c "$CONF/none.yaml"
start_proxy d "$CONF/add_header.yaml"
start_proxy d0 "$CONF/add_header_wat.yaml"
start_proxy e "$CONF/five.yaml"
CASES=(a b c d d0 e)
declare -A LABEL=([a]="(a) upstream direct" [b]="(b) nginx proxy" [c]="(c) proxy, no plugin" [d]="(d) proxy, add_header"
  [d0]="(d0) proxy, add_header in WAT (no SDK)" [e]="(e) proxy, 5 plugins" [c@base]="(c) at ${BASELINE:-}" [d0@base]="(d0) at ${BASELINE:-}")
if [ -n "$BASE_DLL" ]; then
  start_proxy c@base "$CONF/none.yaml" "$BASE_DLL"
  start_proxy d0@base "$CONF/add_header_wat.yaml" "$BASE_DLL"
  CASES+=(c@base d0@base)
fi
# What each case must answer before it is measured: a proxy that answered 503 (a plugin that failed to load, FAIL_CLOSE) or
# skipped its plugin would otherwise be timed as if it worked.
declare -A EXPECT=([d]="hello: bench" [d0]="x-wasm: bench" [e]="hello: three" [d0@base]="x-wasm: bench")
check_answer() { # case
  local head
  head=$(curl -sS -m 10 -D - -o /dev/null "${URL[$1]}" | tr -d '\r')
  echo "$head" | head -1 | grep -q " 200" || { echo "bench-proxy: ${LABEL[$1]} did not answer 200: $(echo "$head" | head -1)" >&2; log_tail "$1"; exit 1; }
  [ -z "${EXPECT[$1]:-}" ] || echo "$head" | grep -qix "${EXPECT[$1]}" \
    || { echo "bench-proxy: ${LABEL[$1]} answered without '${EXPECT[$1]}'" >&2; log_tail "$1"; exit 1; }
}
log_tail() { [ ! -f "$WORK/proxy-$1.log" ] || { echo "the end of its log:" >&2; tail -5 "$WORK/proxy-$1.log" >&2; }; }
for k in "${CASES[@]}"; do
  if [ -n "${ADMIN_URL[$k]}" ]; then wait_http "${ADMIN_URL[$k]}/ready" "$WORK/proxy-$k.log"; else wait_http "${URL[$k]}"; fi
  check_answer "$k"
  echo "bench-proxy: warming ${LABEL[$k]}"; warm "${URL[$k]}" "${PID[$k]}"
done

ROWS=$WORK/rows; : > "$ROWS"
for ((round = 1; round <= ROUNDS; round++)); do
  echo "bench-proxy: round $round of $ROUNDS"
  for ((i = 0; i < ${#CASES[@]}; i++)); do
    k=${CASES[$(( (i + round - 1) % ${#CASES[@]} ))]}
    echo "$round $k $(measure "${URL[$k]}" "${PID[$k]}" "${ADMIN_URL[$k]}")" >> "$ROWS"
  done
done

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION on $(nproc) cores, $ROUNDS rounds; each column is the median of its rounds, a ratio the median of"
echo "the same ratio in each round; cpu = the proxy process's user+kernel microseconds per request (user in brackets); alloc = bytes"
echo "our proxy allocated per request"
python3 - "$ROWS" <<'PY_SUMMARY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    rnd, case, rps, p50, p99, usr, sys_, alloc, bad, errors = line.split()
    rows.setdefault(case, {})[int(rnd)] = dict(rps=float(rps), p50=float(p50), p99=float(p99), usr=float(usr), sys=float(sys_), alloc=float(alloc),
                                               bad=int(bad), errors=int(errors))
med = lambda values: statistics.median(values) if values else float("nan")
# A case with errors, or a round with no requests at all, makes every number of it meaningless: said first, then the table.
failed = [(k, sum(r["bad"] for r in rows[k].values()), sum(r["errors"] for r in rows[k].values())) for k in rows]
failed = [f for f in failed if f[1] or f[2]]
def lo(values): return min(values) if values else float("nan")
def hi(values): return max(values) if values else float("nan")
def col(case, key): return med(r[key] for r in rows[case].values())
def ratio(case, base, key):
    return [rows[case][n][key] / rows[base][n][key] for n in rows[case] if rows[base][n][key] > 0]
names = {"a": "(a) upstream", "b": "(b) nginx", "c": "(c) proxy, no plugin", "d": "(d) proxy, add_header", "d0": "(d0) add_header, WAT", "e": "(e) proxy, 5 plugins",
         "c@base": "(c) at the baseline", "d0@base": "(d0) at the baseline"}
for k, bad, errors in failed:
    print("bench-proxy: %s: %d answers were not 2xx/3xx and %d socket errors or runs wrk could not make: its numbers are not a proxy's that works"
          % (names[k], bad, errors))
print("%-24s %10s %9s %9s | %8s %8s | %8s %8s | %8s %8s | %14s | %6s" % ("case", "req/s", "p50ms", "p99ms", "rps/a", "rps/b", "p50/a", "p50/b", "p99/a", "p99/b", "cpu us (user)", "alloc"))
for k in [c for c in ["a", "b", "c", "d", "d0", "e", "c@base", "d0@base"] if c in rows]:
    cpu = "-" if k == "a" else "%.1f (%.1f)" % (med(r["usr"] + r["sys"] for r in rows[k].values()), col(k, "usr"))
    alloc = "-" if k in ("a", "b") else "%d" % col(k, "alloc")
    print("%-24s %10d %9.3f %9.3f | %8.2f %8.2f | %8.2f %8.2f | %8.2f %8.2f | %14s | %6s" % (
        names[k], col(k, "rps"), col(k, "p50"), col(k, "p99"), med(ratio(k, "a", "rps")), med(ratio(k, "b", "rps")),
        med(ratio(k, "a", "p50")), med(ratio(k, "b", "p50")), med(ratio(k, "a", "p99")), med(ratio(k, "b", "p99")), cpu, alloc))
def target(case, base, goal):
    r = ratio(case, base, "rps")
    return "%s (%.2f; rounds %.2f-%.2f)" % ("met" if med(r) >= goal else "missed", med(r), lo(r), hi(r))
d0 = ratio("d0", "c", "rps")
print("targets: (c) >= nginx: %s; (d) >= 90%% of (c): %s; without the SDK (d0/c): %.2f (rounds %.2f-%.2f)" % (
    target("c", "b", 1.0), target("d", "c", 0.9), med(d0), lo(d0), hi(d0)))
if "c@base" in rows:
    for case in ["c", "d0"]:
        r = ratio(case, case + "@base", "rps")
        cpu = lambda k: med(x["usr"] + x["sys"] for x in rows[k].values())
        print("against the baseline: (%s) req/s x%.2f (rounds %.2f-%.2f), cpu %.1f -> %.1f us per request" % (
            case, med(r), lo(r), hi(r), cpu(case + "@base"), cpu(case)))
sys.exit(1 if failed else 0)
PY_SUMMARY
