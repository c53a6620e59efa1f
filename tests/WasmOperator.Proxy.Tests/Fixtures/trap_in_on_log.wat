;; Passes every request on, then traps (unreachable) in proxy_on_log, after the response went out.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    global.get $heap local.set $p global.get $heap local.get $n i32.add global.set $heap local.get $p)
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) i32.const 0)
  (func (export "proxy_on_log") (param i32) unreachable))
