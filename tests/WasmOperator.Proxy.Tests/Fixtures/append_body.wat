;; At the end of the request body, appends 64 KiB four times (256 KiB, under the host library's default body limit
;; of 1 MiB); if the host refuses one, answers 413 "body_limit" instead of letting the request go on.
(module
  (import "env" "proxy_set_buffer_bytes" (func $set (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "body_limit")
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_request_body") (param i32) (param i32) (param $eos i32) (result i32)
    (local $i i32)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
    (loop $l
      (if (call $set (i32.const 0) (i32.const 0x7fffffff) (i32.const 0) (i32.const 65536) (i32.const 65536))
        (then
          (drop (call $reply (i32.const 413) (i32.const 16) (i32.const 10) (i32.const 16) (i32.const 10) (i32.const 0) (i32.const 0) (i32.const -1)))
          (return (i32.const 1))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 4))))
    i32.const 0)
)
