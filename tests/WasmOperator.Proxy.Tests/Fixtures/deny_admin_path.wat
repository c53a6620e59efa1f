;; Path authorizer: 403 when request.path starts with "/admin" (reads the property as SDKs do). Used to check that
;; plugins see the path the upstream gets (PathNormalizationTests).
(module
  (import "env" "proxy_get_property" (func $get_property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "request.path")
  (data (i32.const 32) "/admin")
  (data (i32.const 100) "denied")
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
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (local $p i32)
    (global.set $heap (i32.const 4096))
    (i32.store (i32.const 64) (i32.const 0))
    (i32.store (i32.const 68) (i32.const 0))
    (drop (call $get_property (i32.const 16) (i32.const 12) (i32.const 64) (i32.const 68)))
    (local.set $p (i32.load (i32.const 64)))
    (if (i32.ge_u (i32.load (i32.const 68)) (i32.const 6))
      (then
        (if (i32.and (i32.eq (i32.load (local.get $p)) (i32.load (i32.const 32)))
                     (i32.eq (i32.load16_u (i32.add (local.get $p) (i32.const 4))) (i32.load16_u (i32.const 36))))
          (then
            (drop (call $reply (i32.const 403) (i32.const 100) (i32.const 6) (i32.const 100) (i32.const 6) (i32.const 0) (i32.const 0) (i32.const -1)))
            (return (i32.const 1))))))
    i32.const 0)
)
