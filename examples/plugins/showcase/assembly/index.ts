// Our own plugin exercising what the SDK examples do not: metrics, shared data with CAS under
// contention, shared queues, timers, body rewriting, local replies, properties and LOG/WASI output.
// Behaviour is chosen by the request path:
//   /local  -> local reply 418 "I'm a teapot" with header x-local: yes
//   /cas    -> increments shared "counter" with a CAS retry loop; response header x-counter
//   /queue  -> enqueues the request id header (x-id) on queue "showcase"; the root dequeues it
//   /body   -> buffers the request body and replaces it with "rewritten:" + body
// Every request: counter showcase_requests, request header x-plugin-name (property plugin_name),
// x-path (property request.path), and a WASI fd_write line on stdout.
export * from "@solo-io/proxy-runtime/proxy";
import { ConfiguredRootContext } from "../../lib/root";
import {
  RootContext, Context, registerRootContext, FilterHeadersStatusValues, FilterDataStatusValues,
  stream_context, send_local_response, GrpcStatusValues, HeaderPair, Headers, log, LogLevelValues, Counter, Gauge
} from "@solo-io/proxy-runtime";
import { get_buffer_bytes, get_property, set_tick_period_milliseconds, BufferTypeValues } from "@solo-io/proxy-runtime/runtime";
import { fd_write } from "bindings/wasi_unstable";
import { getSharedData, setSharedData, setBufferBytes, registerQueue, enqueue, dequeue } from "../../lib/hostcalls";

let requests: Counter | null = null;
let ticks: Gauge | null = null;
let queueId: u32 = 0;
let tickCount: i64 = 0;

function stdout(line: string): void {
  const bytes = String.UTF8.encode(line + "\n");
  const iov = new ArrayBuffer(16);
  const base = changetype<usize>(iov);
  store<u32>(base, <u32>changetype<usize>(bytes));
  store<u32>(base + 4, <u32>bytes.byteLength);
  fd_write(1, base, 1, base + 8);
}

class ShowcaseRoot extends ConfiguredRootContext {
  createContext(context_id: u32): Context {
    return new Showcase(context_id, this);
  }
  onConfigure(configuration_size: u32): bool {
    const ok = super.onConfigure(configuration_size);
    requests = new Counter("showcase_requests");
    ticks = new Gauge("showcase_ticks");
    queueId = registerQueue("showcase");
    if (this.getConfiguration() == "tick") {
      set_tick_period_milliseconds(10);
    }
    return ok;
  }
  onTick(): void {
    tickCount += 1;
    const gauge = ticks as Gauge;
    gauge.record(gauge.metric_id, <u64>tickCount);
    if (tickCount == 3) {
      set_tick_period_milliseconds(0);
      log(LogLevelValues.info, "ticked 3 times");
    }
  }
  onQueueReady(token: u32): void {
    let item = dequeue(token);
    while (item.status == 0) {
      log(LogLevelValues.info, "dequeued " + item.value);
      item = dequeue(token);
    }
  }
}

class Showcase extends Context {
  path: string = "";
  constructor(context_id: u32, root_context: ShowcaseRoot) {
    super(context_id, root_context);
  }
  onRequestHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    (requests as Counter).increment(1);
    this.path = String.UTF8.decode(get_property("request.path"));
    stream_context.headers.request.add("x-plugin-name", String.UTF8.decode(get_property("plugin_name")));
    stream_context.headers.request.add("x-path", this.path);
    stdout("showcase saw " + this.path);
    log(LogLevelValues.info, "showcase request " + this.path);
    if (this.path == "/local") {
      const headers: Headers = [new HeaderPair(String.UTF8.encode("X-Local"), String.UTF8.encode("yes"))];
      send_local_response(418, "teapot", String.UTF8.encode("I'm a teapot"), headers, <GrpcStatusValues>-1);
      return FilterHeadersStatusValues.StopIteration;
    }
    if (this.path == "/queue") {
      enqueue(queueId, stream_context.headers.request.get("x-id"));
    }
    return FilterHeadersStatusValues.Continue;
  }
  onRequestBody(body_buffer_length: usize, end_of_stream: bool): FilterDataStatusValues {
    if (this.path != "/body") {
      return FilterDataStatusValues.Continue;
    }
    if (!end_of_stream) {
      return FilterDataStatusValues.StopIterationAndBuffer;
    }
    const body = String.UTF8.decode(get_buffer_bytes(BufferTypeValues.HttpRequestBody, 0, <u32>body_buffer_length));
    setBufferBytes(BufferTypeValues.HttpRequestBody, 0, <u32>body_buffer_length, "rewritten:" + body);
    return FilterDataStatusValues.Continue;
  }
  onResponseHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    if (this.path == "/cas") {
      // Optimistic concurrency: read value+cas, write with that cas, retry on CAS_MISMATCH (8).
      let attempts = 0;
      while (true) {
        attempts++;
        const current = getSharedData("counter");
        const next = current.status == 0 ? I32.parseInt(current.value) + 1 : 1;
        const status = setSharedData("counter", next.toString(), current.cas);
        if (status == 0) {
          stream_context.headers.response.add("x-counter", next.toString());
          break;
        }
        if (attempts > 1000) {
          log(LogLevelValues.error, "cas gave up");
          break;
        }
      }
    }
    return FilterHeadersStatusValues.Continue;
  }
}

registerRootContext((context_id: u32) => { return new ShowcaseRoot(context_id); }, "showcase");
