// The SDK's singleton pattern: the `auth_singleton` root ticks every second and fetches a token
// from the cluster named in its configuration into shared data; the `auth` root compares each
// request's `x-auth` header with that token (401 on mismatch). Both roots share one vm_id.
export * from "@solo-io/proxy-runtime/proxy";
import { ConfiguredRootContext } from "../../lib/root";
import {
  RootContext, Context, registerRootContext, FilterHeadersStatusValues, stream_context,
  send_local_response, GrpcStatusValues, HeaderPair, Headers, log, LogLevelValues
} from "@solo-io/proxy-runtime";
import { get_buffer_bytes, set_tick_period_milliseconds, BufferTypeValues } from "@solo-io/proxy-runtime/runtime";
import { getSharedData, setSharedData } from "../../lib/hostcalls";

function pair(key: string, value: string): HeaderPair {
  return new HeaderPair(String.UTF8.encode(key), String.UTF8.encode(value));
}

class SingletonRoot extends ConfiguredRootContext {
  // The SDK's onDone answers every fetch still in flight with no response (cancelPendingRequests): the VM is
  // going away (a reload that replaces it, the proxy stopping), which is no failed fetch.
  stopping: bool = false;

  onDone(): bool {
    this.stopping = true;
    return super.onDone();
  }
  onConfigure(configuration_size: u32): bool {
    const ok = super.onConfigure(configuration_size);
    set_tick_period_milliseconds(1000);
    return ok;
  }
  onTick(): void {
    const cluster = this.getConfiguration();
    const headers: Headers = [pair(":method", "GET"), pair(":path", "/token"), pair(":authority", cluster)];
    const trailers: Headers = [];
    this.httpCall(cluster, headers, new ArrayBuffer(0), trailers, 1000, this,
      (origin_context: Context, headers: u32, body_size: usize, trailers: u32): void => {
        if (headers == 0) {
          if (!changetype<SingletonRoot>(origin_context).stopping) {
            log(LogLevelValues.warn, "token fetch failed");
          }
          return;
        }
        const token = String.UTF8.decode(get_buffer_bytes(BufferTypeValues.HttpCallResponseBody, 0, <u32>body_size));
        setSharedData("token", token, 0);
        log(LogLevelValues.info, "token refreshed");
      });
  }
}

class AuthRoot extends ConfiguredRootContext {
  createContext(context_id: u32): Context {
    return new TokenAuth(context_id, this);
  }
}

class TokenAuth extends Context {
  constructor(context_id: u32, root_context: AuthRoot) {
    super(context_id, root_context);
  }
  onRequestHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const token = getSharedData("token");
    const presented = stream_context.headers.request.get("x-auth");
    if (token.status == 0 && token.value.length > 0 && presented == token.value) {
      return FilterHeadersStatusValues.Continue;
    }
    send_local_response(401, "not authorized", String.UTF8.encode("not authorized"), [], <GrpcStatusValues>-1);
    return FilterHeadersStatusValues.StopIteration;
  }
}

registerRootContext((context_id: u32) => { return new SingletonRoot(context_id); }, "auth_singleton");
registerRootContext((context_id: u32) => { return new AuthRoot(context_id); }, "auth");
