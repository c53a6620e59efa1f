;; Metrics as an SDK uses them; any status but OK traps, as the Rust SDK panics. proxy_on_configure reads the plugin
;; configuration; its first byte chooses:
;;   'g'  define gauge "shared_metric" and record 7 into it
;;   'c'  define counter "shared_metric" and increment it by 1
;;   'x'  define nothing; record -999, increment by 1 and get every id 0..255: each must answer NOT_FOUND (1)
(module
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $increment (param i32 i64) (result i32)))
  (import "env" "proxy_record_metric" (func $record (param i32 i64) (result i32)))
  (import "env" "proxy_get_metric" (func $get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "shared_metric")
  (func (export "malloc") (param i32) (result i32) (i32.const 4096))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func $ok (param i32) (if (local.get 0) (then unreachable)))
  (func $not_found (param i32) (if (i32.ne (local.get 0) (i32.const 1)) (then unreachable)))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (local $op i32)
    (local $id i32)
    (call $ok (call $get_buffer (i32.const 7) (i32.const 0) (local.get 1) (i32.const 0) (i32.const 4)))
    (local.set $op (i32.load8_u (i32.load (i32.const 0))))
    (if (i32.eq (local.get $op) (i32.const 0x67)) ;; 'g'
      (then
        (call $ok (call $define (i32.const 1) (i32.const 100) (i32.const 13) (i32.const 8)))
        (call $ok (call $record (i32.load (i32.const 8)) (i64.const 7)))))
    (if (i32.eq (local.get $op) (i32.const 0x63)) ;; 'c'
      (then
        (call $ok (call $define (i32.const 0) (i32.const 100) (i32.const 13) (i32.const 8)))
        (call $ok (call $increment (i32.load (i32.const 8)) (i64.const 1)))))
    (if (i32.eq (local.get $op) (i32.const 0x78)) ;; 'x'
      (then
        (loop $ids
          (call $not_found (call $record (local.get $id) (i64.const -999)))
          (call $not_found (call $increment (local.get $id) (i64.const 1)))
          (call $not_found (call $get (local.get $id) (i32.const 16)))
          (local.set $id (i32.add (local.get $id) (i32.const 1)))
          (br_if $ids (i32.lt_u (local.get $id) (i32.const 256))))))
    (i32.const 1))
)
