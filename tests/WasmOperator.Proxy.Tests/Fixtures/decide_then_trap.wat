;; Decides, then traps, in on_request_headers: a local reply 403 "denied" (the plugin configuration is "reply"), or a
;; stream close (configuration "close"); then `unreachable`. An authorizer whose deny path panics after sending its
;; answer (Rust's send_http_response, then a panic) does the same. Any other configuration only traps.
(module
  (import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_close_stream" (func $close (param i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (global $mode (mut i32) (i32.const 0)) ;; 1 reply, 2 close
  (data (i32.const 16) "denied")
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
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32) (local $data i32)
    ;; The configuration's first byte: 'r'eply or 'c'lose.
    (if (i32.eqz (local.get $size)) (then (return (i32.const 1))))
    (drop (call $get_buffer (i32.const 7) (i32.const 0) (i32.const 1) (i32.const 200) (i32.const 204)))
    (local.set $data (i32.load (i32.const 200)))
    (if (i32.eq (i32.load8_u (local.get $data)) (i32.const 114)) (then (global.set $mode (i32.const 1))))
    (if (i32.eq (i32.load8_u (local.get $data)) (i32.const 99)) (then (global.set $mode (i32.const 2))))
    i32.const 1)
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (if (i32.eq (global.get $mode) (i32.const 1))
      (then (drop (call $reply (i32.const 403) (i32.const 16) (i32.const 6) (i32.const 16) (i32.const 6) (i32.const 0) (i32.const 0) (i32.const -1)))))
    (if (i32.eq (global.get $mode) (i32.const 2))
      (then (drop (call $close (i32.const 0)))))
    unreachable)
)
