// The SDK's remove_headers example: the configuration is a comma-separated list of prefixes;
// response headers whose names start with one of them are removed.
export * from "@solo-io/proxy-runtime/proxy";
import { ConfiguredRootContext } from "../../lib/root";
import { RootContext, Context, registerRootContext, FilterHeadersStatusValues, stream_context } from "@solo-io/proxy-runtime";

class RemoveHeadersRoot extends ConfiguredRootContext {
  createContext(context_id: u32): Context {
    return new RemoveHeaders(context_id, this);
  }
}

class RemoveHeaders extends Context {
  constructor(context_id: u32, root_context: RemoveHeadersRoot) {
    super(context_id, root_context);
  }
  onResponseHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const prefixes = this.root_context.getConfiguration().split(",");
    const headers = stream_context.headers.response.get_headers();
    for (let i = 0; i < headers.length; i++) {
      const name = String.UTF8.decode(headers[i].key);
      for (let j = 0; j < prefixes.length; j++) {
        const prefix = prefixes[j].trim();
        if (prefix.length > 0 && name.startsWith(prefix)) {
          stream_context.headers.response.remove(name);
          break;
        }
      }
    }
    return FilterHeadersStatusValues.Continue;
  }
}

registerRootContext((context_id: u32) => { return new RemoveHeadersRoot(context_id); }, "remove_headers");
