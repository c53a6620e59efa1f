;; proxy_send_local_response with a grpc_status outside 0..16: on_request_headers answers 403 "denied"
;; with grpc_status 17, which Envoy treats as "not gRPC" (a plain 403), the same as -1.
(module
  (import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 16384))
  (data (i32.const 16) "denied")
  (data (i32.const 32) "grpc_status_17")
  (func $malloc (export "malloc") (param $n i32) (result i32) (local $p i32)
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
    (drop (call $reply (i32.const 403) (i32.const 32) (i32.const 14) (i32.const 16) (i32.const 6) (i32.const 0) (i32.const 0) (i32.const 17)))
    i32.const 1)
)
