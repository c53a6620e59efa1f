;; Streaming gRPC callouts to pkg.Svc/Watch; on_request_headers logs every hostcall result as a hex digit.
;; Context 2 opens on "grpc-cluster" with metadata k=v, sends "m1", "m2" (end_stream), then sends on
;; unknown token 99. Context 3 opens on "nowhere". Context 4 opens and cancels twice. Context 5 opens,
;; closes, then sends. The root logs every stream event: initial metadata count, each message, the
;; trailing value of "t", the close status digit and the get_status message.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_stream" (func $stream (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_send" (func $send (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_cancel" (func $cancel (param i32) (result i32)))
  (import "env" "proxy_grpc_close" (func $close (param i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_value (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_status" (func $get_status (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (global $token (mut i32) (i32.const 0))
  (data (i32.const 200) "grpc-cluster")
  (data (i32.const 216) "pkg.Svc")
  (data (i32.const 224) "Watch")
  (data (i32.const 232) "m1")
  (data (i32.const 236) "m2")
  (data (i32.const 240) "nowhere")
  (data (i32.const 248) "t")
  ;; metadata: 1 pair, "k" = "v"
  (data (i32.const 256) "\01\00\00\00\01\00\00\00\01\00\00\00k\00v\00")
  (data (i32.const 300) "0123456789abcdef")
  (func (export "malloc") (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $p))
  ;; logs one hex digit (0..15): status 14 UNAVAILABLE is "e"
  (func $log_digit (param $d i32)
    (drop (call $log (i32.const 2) (i32.add (i32.const 300) (local.get $d)) (i32.const 1))))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func $open (param $up i32) (param $up_len i32) (param $md i32) (param $md_len i32)
    (call $log_digit (call $stream (local.get $up) (local.get $up_len) (i32.const 216) (i32.const 7) (i32.const 224) (i32.const 5)
      (local.get $md) (local.get $md_len) (i32.const 100)))
    (global.set $token (i32.load (i32.const 100))))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    ;; stream 2: open, send m1, send m2 with end_stream, send on unknown token 99
    (if (i32.eq (local.get $ctx) (i32.const 2))
      (then
        (call $open (i32.const 200) (i32.const 12) (i32.const 256) (i32.const 16))
        (call $log_digit (call $send (global.get $token) (i32.const 232) (i32.const 2) (i32.const 0)))
        (call $log_digit (call $send (global.get $token) (i32.const 236) (i32.const 2) (i32.const 1)))
        (call $log_digit (call $send (i32.const 99) (i32.const 232) (i32.const 2) (i32.const 0)))))
    ;; stream 3: open to an unknown upstream
    (if (i32.eq (local.get $ctx) (i32.const 3))
      (then (call $open (i32.const 240) (i32.const 7) (i32.const 0) (i32.const 0))))
    ;; stream 4: open, cancel, cancel again
    (if (i32.eq (local.get $ctx) (i32.const 4))
      (then
        (call $open (i32.const 200) (i32.const 12) (i32.const 0) (i32.const 0))
        (call $log_digit (call $cancel (global.get $token)))
        (call $log_digit (call $cancel (global.get $token)))))
    ;; stream 5: open, close, send after close
    (if (i32.eq (local.get $ctx) (i32.const 5))
      (then
        (call $open (i32.const 200) (i32.const 12) (i32.const 0) (i32.const 0))
        (call $log_digit (call $close (global.get $token)))
        (call $log_digit (call $send (global.get $token) (i32.const 232) (i32.const 2) (i32.const 0)))))
    (i32.const 0))
  (func (export "proxy_on_grpc_receive_initial_metadata") (param $root i32) (param $token i32) (param $n i32)
    (call $log_digit (local.get $n)))
  (func (export "proxy_on_grpc_receive") (param $root i32) (param $token i32) (param $size i32)
    (drop (call $get_buffer (i32.const 5) (i32.const 0) (local.get $size) (i32.const 104) (i32.const 108)))
    (drop (call $log (i32.const 2) (i32.load (i32.const 104)) (i32.load (i32.const 108)))))
  (func (export "proxy_on_grpc_receive_trailing_metadata") (param $root i32) (param $token i32) (param $n i32)
    (drop (call $get_value (i32.const 5) (i32.const 248) (i32.const 1) (i32.const 104) (i32.const 108)))
    (drop (call $log (i32.const 2) (i32.load (i32.const 104)) (i32.load (i32.const 108)))))
  (func (export "proxy_on_grpc_close") (param $root i32) (param $token i32) (param $status i32)
    (call $log_digit (local.get $status))
    (drop (call $get_status (i32.const 112) (i32.const 116) (i32.const 120)))
    (drop (call $log (i32.const 2) (i32.load (i32.const 116)) (i32.load (i32.const 120)))))
)
