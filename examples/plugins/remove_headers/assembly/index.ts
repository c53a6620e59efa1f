// The SDK's remove_headers example: response headers whose names start with one of the configured
// prefixes are removed. The configuration is a JSON object {"prefixes": ["x-internal-", ...]}, as a
// WasmPlugin's pluginConfig object arrives; any other text is the SDK's form, a comma-separated list.
export * from "@solo-io/proxy-runtime/proxy";
import { ConfiguredRootContext, rejectConfiguration } from "../../lib/root";
import { JsonKind, looksLikeJsonObject, parseJsonObject } from "../../lib/json";
import { RootContext, Context, registerRootContext, FilterHeadersStatusValues, stream_context } from "@solo-io/proxy-runtime";

class RemoveHeadersRoot extends ConfiguredRootContext {
  prefixes: string[] = [];

  createContext(context_id: u32): Context {
    return new RemoveHeaders(context_id, this);
  }

  onConfigure(configuration_size: u32): bool {
    if (!super.onConfigure(configuration_size)) {
      return false;
    }
    const text = this.getConfiguration();
    let listed: string[];
    if (looksLikeJsonObject(text)) {
      const config = parseJsonObject(text);
      listed = config.getArray("prefixes", JsonKind.String, []);
      if (config.error != "") {
        return rejectConfiguration("remove_headers", config.error);
      }
    } else {
      listed = text.split(",");
    }
    this.prefixes = [];
    for (let i = 0; i < listed.length; i++) {
      // Header names reach the plugin in lower case.
      const prefix = listed[i].trim().toLowerCase();
      if (prefix.length > 0) {
        this.prefixes.push(prefix);
      }
    }
    return true;
  }
}

class RemoveHeaders extends Context {
  root: RemoveHeadersRoot;

  constructor(context_id: u32, root_context: RemoveHeadersRoot) {
    super(context_id, root_context);
    this.root = root_context;
  }

  onResponseHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const prefixes = this.root.prefixes;
    if (prefixes.length == 0) {
      return FilterHeadersStatusValues.Continue;
    }
    const headers = stream_context.headers.response.get_headers();
    for (let i = 0; i < headers.length; i++) {
      const name = String.UTF8.decode(headers[i].key);
      for (let j = 0; j < prefixes.length; j++) {
        if (name.startsWith(prefixes[j])) {
          stream_context.headers.response.remove(name);
          break;
        }
      }
    }
    return FilterHeadersStatusValues.Continue;
  }
}

registerRootContext((context_id: u32) => { return new RemoveHeadersRoot(context_id); }, "remove_headers");
