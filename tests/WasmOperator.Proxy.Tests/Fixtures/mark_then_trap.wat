;; on_request_headers marks the request (adds "x-marked: 1") and then traps, unless the request already carries
;; x-marked, which it lets through. A retry that replays the request as the plugin first saw it traps again; one that
;; sees the failed attempt's mark lets the request through.
(module
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 100) "x-marked")
  (data (i32.const 120) "1")
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    global.get $heap
    local.set $p
    global.get $heap
    local.get $n
    i32.add
    global.set $heap
    local.get $p)
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (if (i32.eqz (call $get (i32.const 0) (i32.const 100) (i32.const 8) (i32.const 200) (i32.const 204)))
      (then (return (i32.const 0))))
    (drop (call $add (i32.const 0) (i32.const 100) (i32.const 8) (i32.const 120) (i32.const 1)))
    unreachable)
)
