;; Cancels a gRPC stream: on_request_headers opens test.Echo/Stream on the cluster named by the plugin
;; configuration, sends "one" (no half-close) and pauses; the first received message cancels the
;; stream (proxy_grpc_cancel) and answers the request with a local reply "cancelled" (200).
(module
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_stream" (func $grpc_stream (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_send" (func $grpc_send (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_cancel" (func $grpc_cancel (param i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $set_effective (param i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 16384))
  (global $ctx (mut i32) (i32.const 0))
  (global $cfg_len (mut i32) (i32.const 0))
  (data (i32.const 16) "test.Echo")
  (data (i32.const 32) "Stream")
  (data (i32.const 48) "one")
  (data (i32.const 64) "cancelled")
  (data (i32.const 80) "grpc_cancel")
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
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (drop (call $get_buffer (i32.const 7) (i32.const 0) (local.get $size) (i32.const 200) (i32.const 204)))
    (memory.copy (i32.const 512) (i32.load (i32.const 200)) (i32.load (i32.const 204)))
    (global.set $cfg_len (i32.load (i32.const 204)))
    i32.const 1)
  (func (export "proxy_on_request_headers") (param $ctx i32) (param i32 i32) (result i32)
    (global.set $ctx (local.get $ctx))
    (drop (call $grpc_stream (i32.const 512) (global.get $cfg_len) (i32.const 16) (i32.const 9)
      (i32.const 32) (i32.const 6) (i32.const 0) (i32.const 0) (i32.const 216)))
    (drop (call $grpc_send (i32.load (i32.const 216)) (i32.const 48) (i32.const 3) (i32.const 0)))
    i32.const 1)
  (func (export "proxy_on_grpc_receive") (param $root i32) (param $token i32) (param i32)
    (drop (call $grpc_cancel (local.get $token)))
    (drop (call $set_effective (global.get $ctx)))
    (drop (call $reply (i32.const 200) (i32.const 80) (i32.const 11) (i32.const 64) (i32.const 9) (i32.const 0) (i32.const 0) (i32.const -1))))
)
