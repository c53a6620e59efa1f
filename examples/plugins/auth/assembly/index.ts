// The SDK's auth example: sends the request headers to the cluster named in the configuration;
// a 200 adds `added-header: authorized` and continues, anything else answers 401.
export * from "@solo-io/proxy-runtime/proxy";
import { ConfiguredRootContext } from "../../lib/root";
import {
  RootContext, Context, registerRootContext, FilterHeadersStatusValues, stream_context,
  send_local_response, GrpcStatusValues, WasmResultValues, Headers
} from "@solo-io/proxy-runtime";

class AuthRoot extends ConfiguredRootContext {
  createContext(context_id: u32): Context {
    return new Auth(context_id, this);
  }
}

class Auth extends Context {
  constructor(context_id: u32, root_context: AuthRoot) {
    super(context_id, root_context);
  }
  onRequestHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const cluster = this.root_context.getConfiguration();
    const headers = stream_context.headers.request.get_headers();
    const trailers: Headers = [];
    const result = this.root_context.httpCall(cluster, headers, new ArrayBuffer(0), trailers, 1000, this,
      (origin_context: Context, headers: u32, body_size: usize, trailers: u32): void => {
        const status = stream_context.headers.http_callback.get(":status");
        if (status == "200") {
          stream_context.headers.request.add("added-header", "authorized");
          origin_context.continueRequest();
          return;
        }
        send_local_response(401, "not authorized", String.UTF8.encode("not authorized"), [], <GrpcStatusValues>-1);
      });
    if (result != WasmResultValues.Ok) {
      send_local_response(500, "auth callout failed", String.UTF8.encode("auth callout failed"), [], <GrpcStatusValues>-1);
    }
    return FilterHeadersStatusValues.StopIteration;
  }
}

registerRootContext((context_id: u32) => { return new AuthRoot(context_id); }, "auth");
