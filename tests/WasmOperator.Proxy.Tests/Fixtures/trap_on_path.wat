;; Traps (unreachable) in proxy_on_request_headers when request.path starts with "/trap";
;; every other request continues untouched. ABI 0.2.0, bump allocator reset per request.
(module
  (import "env" "proxy_get_property" (func $get_property (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "request.path")
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    global.get $heap
    local.set $p
    global.get $heap
    local.get $n
    i32.add
    i32.const 7
    i32.add
    i32.const -8
    i32.and
    global.set $heap
    local.get $p)
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (global.set $heap (i32.const 4096))
    (i32.store (i32.const 64) (i32.const 0))
    (drop (call $get_property (i32.const 16) (i32.const 12) (i32.const 64) (i32.const 68)))
    (if (i32.ne (i32.load (i32.const 64)) (i32.const 0))
      (then
        (if (i32.eq (i32.load (i32.load (i32.const 64))) (i32.const 0x6172742f))
          (then unreachable))))
    i32.const 0)
)
