// The SDK's auth example: sends the request headers to a cluster; an allowed answer (200) adds
// `added-header: authorized` and continues, anything else answers 401. The configuration is a JSON
// object, as a WasmPlugin's pluginConfig object arrives:
//   {"cluster": "authz", "timeoutMs": 1000, "forwardHeaders": ["authorization"], "allowOnStatus": [200]}
// cluster is required; timeoutMs defaults to 1000; forwardHeaders absent sends every request header,
// given it sends only those (and the pseudo-headers, which a callout needs); allowOnStatus
// defaults to [200]. Any other text is the SDK's form: the cluster name.
export * from "@solo-io/proxy-runtime/proxy";
import { ConfiguredRootContext, rejectConfiguration } from "../../lib/root";
import { JsonKind, looksLikeJsonObject, parseJsonObject } from "../../lib/json";
import {
  RootContext, Context, registerRootContext, FilterHeadersStatusValues, stream_context,
  send_local_response, GrpcStatusValues, WasmResultValues, Headers, HeaderPair
} from "@solo-io/proxy-runtime";

const PSEUDO_HEADERS = [":method", ":path", ":authority", ":scheme"];

class AuthRoot extends ConfiguredRootContext {
  cluster: string = "";
  timeoutMs: u32 = 1000;
  forwardAll: bool = true;
  forwardHeaders: string[] = [];
  allowOnStatus: string[] = ["200"];

  createContext(context_id: u32): Context {
    return new Auth(context_id, this);
  }

  onConfigure(configuration_size: u32): bool {
    if (!super.onConfigure(configuration_size)) {
      return false;
    }
    const text = this.getConfiguration();
    this.cluster = text;
    this.timeoutMs = 1000;
    this.forwardAll = true;
    this.forwardHeaders = [];
    this.allowOnStatus = ["200"];
    if (!looksLikeJsonObject(text)) {
      return true;
    }
    const config = parseJsonObject(text);
    this.cluster = config.getString("cluster", "");
    if (config.error == "" && this.cluster == "") {
      config.invalid("cluster", "is required: the name of the cluster to send the callout to");
    }
    // Converting a float out of u32/i32 range traps in wasm: check the range before the cast.
    const timeout = config.getNumber("timeoutMs", 1000);
    if (timeout >= 1 && timeout <= 2147483647 && Math.floor(timeout) == timeout) {
      this.timeoutMs = <u32>timeout;
    } else {
      config.invalid("timeoutMs", "must be a whole number of milliseconds from 1 to 2147483647 (the largest callout timeout the host takes)");
    }
    if (config.has("forwardHeaders")) {
      const names = config.getArray("forwardHeaders", JsonKind.String, []);
      this.forwardAll = false;
      for (let i = 0; i < names.length; i++) {
        this.forwardHeaders.push(names[i].toLowerCase());
      }
      for (let i = 0; i < PSEUDO_HEADERS.length; i++) {
        this.forwardHeaders.push(PSEUDO_HEADERS[i]);
      }
    }
    const statuses = config.getArray("allowOnStatus", JsonKind.Number, ["200"]);
    this.allowOnStatus = [];
    for (let i = 0; i < statuses.length; i++) {
      const status = parseFloat(statuses[i]);
      if (status >= 100 && status <= 599 && Math.floor(status) == status) {
        this.allowOnStatus.push((<i32>status).toString());
      } else {
        config.invalid("allowOnStatus", "must hold HTTP status codes from 100 to 599, not " + statuses[i]);
      }
    }
    return config.error == "" || rejectConfiguration("auth", config.error);
  }

  allows(status: string): bool {
    return this.allowOnStatus.includes(status);
  }

  calloutHeaders(): Headers {
    const all = stream_context.headers.request.get_headers();
    if (this.forwardAll) {
      return all;
    }
    const chosen: Headers = [];
    for (let i = 0; i < all.length; i++) {
      if (this.forwardHeaders.includes(String.UTF8.decode(all[i].key).toLowerCase())) {
        chosen.push(all[i]);
      }
    }
    return chosen;
  }
}

class Auth extends Context {
  root: AuthRoot;

  constructor(context_id: u32, root_context: AuthRoot) {
    super(context_id, root_context);
    this.root = root_context;
  }

  onRequestHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const trailers: Headers = [];
    const result = this.root.httpCall(this.root.cluster, this.root.calloutHeaders(), new ArrayBuffer(0), trailers, this.root.timeoutMs, this,
      (origin_context: Context, headers: u32, body_size: usize, trailers: u32): void => {
        const status = stream_context.headers.http_callback.get(":status");
        if (changetype<Auth>(origin_context).root.allows(status)) {
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
