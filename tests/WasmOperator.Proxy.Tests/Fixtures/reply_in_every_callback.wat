;; Answers 403 "no" with proxy_send_local_response in on_request_headers, on_response_headers and every
;; on_response_body, and continues: as a LOG_ONLY plugin it would have replied in each, though an enforcing one
;; ends the stream at the first.
(module
  (import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "no")
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func $deny
    (drop (call $reply (i32.const 403) (i32.const 0) (i32.const 0) (i32.const 16) (i32.const 2) (i32.const 0) (i32.const 0) (i32.const -1))))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (call $deny) i32.const 0)
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (call $deny) i32.const 0)
  (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32) (call $deny) i32.const 0))
