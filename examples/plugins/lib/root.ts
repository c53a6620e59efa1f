import { RootContext, log, LogLevelValues } from "@solo-io/proxy-runtime";

// proxy-runtime 0.1.8's RootContext.onConfigure passes configuration_size as the ret_size_ptr of
// proxy_get_buffer_bytes and then reads a stale size, so an empty configuration makes it decode a
// null buffer and trap. Hosts must answer an empty buffer with 0/0 (Go cannot take an allocation of
// size 0), so the fix belongs in the plugin: skip the read when there is nothing to read.
export class ConfiguredRootContext extends RootContext {
  onConfigure(configuration_size: u32): bool {
    if (configuration_size == 0) {
      return true;
    }
    return super.onConfigure(configuration_size);
  }
}

// Logs why a configuration cannot be used and refuses it: the proxy quotes a plugin's last error-level
// line when it rejects the load, so this line is the reason the user reads.
export function rejectConfiguration(plugin: string, reason: string): bool {
  log(LogLevelValues.error, plugin + ": " + reason);
  return false;
}
