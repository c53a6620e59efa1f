;; Holds the request body to its end, then replaces its first two bytes with "XYZ" with
;; proxy_set_buffer_bytes(0, start 0, size 2, "XYZ"), as the Rust SDK's set_http_request_body(0, 2, b"XYZ") does;
;; traps unless the host answers OK.
(module
  (import "env" "proxy_set_buffer_bytes" (func $set (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "XYZ")
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_body") (param i32) (param i32) (param $eos i32) (result i32)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
    (if (call $set (i32.const 0) (i32.const 0) (i32.const 2) (i32.const 16) (i32.const 3)) (then unreachable))
    (i32.const 0))
)
