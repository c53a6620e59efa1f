;; Grows host-side state until the host refuses. Each callback logs 4 chars: the status of the refused call ('0'+status),
;; the number of calls that succeeded before it (two digits), then the status of a shrinking call after it.
;;   on_request_headers: add "x-bomb: <60000 bytes>" up to 40 times; then replace x-bomb with one 60000-byte value.
;;   on_request_body:    append 65536 bytes up to 40 times; then replace the whole body with 10 bytes.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_replace_header_map_value" (func $replace (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_buffer_bytes" (func $set_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "x-bomb")
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  ;; writes the 4-char report at 16 and logs it
  (func $report (param $refused i32) (param $count i32) (param $after i32)
    (i32.store8 (i32.const 16) (i32.add (i32.const 0x30) (local.get $refused)))
    (i32.store8 (i32.const 17) (i32.add (i32.const 0x30) (i32.div_u (local.get $count) (i32.const 10))))
    (i32.store8 (i32.const 18) (i32.add (i32.const 0x30) (i32.rem_u (local.get $count) (i32.const 10))))
    (i32.store8 (i32.const 19) (i32.add (i32.const 0x30) (local.get $after)))
    (drop (call $log (i32.const 2) (i32.const 16) (i32.const 4))))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (local $i i32)
    (local $status i32)
    (memory.fill (i32.const 32) (i32.const 0x76) (i32.const 60000))
    (block $done
      (loop $l
        (local.set $status (call $add (i32.const 0) (i32.const 0) (i32.const 6) (i32.const 32) (i32.const 60000)))
        (br_if $done (local.get $status))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 40)))))
    (call $report (local.get $status) (local.get $i)
      (call $replace (i32.const 0) (i32.const 0) (i32.const 6) (i32.const 32) (i32.const 60000)))
    (i32.const 0))
  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
    (local $i i32)
    (local $status i32)
    (block $done
      (loop $l
        (local.set $status (call $set_buffer (i32.const 0) (i32.const 0x7fffffff) (i32.const 0) (i32.const 32) (i32.const 65536)))
        (br_if $done (local.get $status))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 40)))))
    (call $report (local.get $status) (local.get $i)
      (call $set_buffer (i32.const 0) (i32.const 0) (i32.const 0x7fffffff) (i32.const 32) (i32.const 10)))
    (i32.const 0))
)
