;; Adds the request trailer "x-plugin:trailer: 1", whose name is no HTTP token, in on_request_trailers: plugins' trailer
;; edits are not vetted as their header edits are, so only the forwarder can refuse it.
(module
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 100) "x-plugin:trailer")
  (data (i32.const 120) "1")
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    global.get $heap local.set $p global.get $heap local.get $n i32.add global.set $heap local.get $p)
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) i32.const 0)
  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32) i32.const 0)
  (func (export "proxy_on_request_trailers") (param i32 i32) (result i32)
    ;; map 1: request trailers
    (drop (call $add (i32.const 1) (i32.const 100) (i32.const 16) (i32.const 120) (i32.const 1)))
    i32.const 0)
)
