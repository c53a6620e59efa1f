// The SDK's add_header example: adds a response header. The configuration is a JSON object
// {"header": "...", "value": "..."} (defaults `hello` / `world!`), as a WasmPlugin's pluginConfig
// object arrives; any other text is the SDK's form, the value of `hello` (empty: `world!`).
export * from "@solo-io/proxy-runtime/proxy";
import { ConfiguredRootContext, rejectConfiguration } from "../../lib/root";
import { looksLikeJsonObject, parseJsonObject } from "../../lib/json";
import { RootContext, Context, registerRootContext, FilterHeadersStatusValues, stream_context } from "@solo-io/proxy-runtime";

class AddHeaderRoot extends ConfiguredRootContext {
  header: string = "hello";
  value: string = "world!";

  createContext(context_id: u32): Context {
    return new AddHeader(context_id, this);
  }

  onConfigure(configuration_size: u32): bool {
    if (!super.onConfigure(configuration_size)) {
      return false;
    }
    const text = this.getConfiguration();
    this.header = "hello";
    this.value = "world!";
    if (!looksLikeJsonObject(text)) {
      if (text != "") {
        this.value = text;
      }
      return true;
    }
    const config = parseJsonObject(text);
    this.header = config.getString("header", "hello");
    this.value = config.getString("value", "world!");
    if (this.header == "") {
      config.invalid("header", "must name a header, not be empty");
    }
    return config.error == "" || rejectConfiguration("add_header", config.error);
  }
}

class AddHeader extends Context {
  root: AddHeaderRoot;

  constructor(context_id: u32, root_context: AddHeaderRoot) {
    super(context_id, root_context);
    this.root = root_context;
  }

  onResponseHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    stream_context.headers.response.add(this.root.header, this.root.value);
    return FilterHeadersStatusValues.Continue;
  }
}

registerRootContext((context_id: u32) => { return new AddHeaderRoot(context_id); }, "add_header");
