;; Registers shared queue "q" (under its plugin's vm_id) in proxy_on_configure, takes every item proxy_on_queue_ready
;; announces, and adds the number it took so far to each response as x-delivered: state that lives as long as the VM.
(module
  (import "env" "proxy_register_shared_queue" (func $register (param i32 i32 i32) (result i32)))
  (import "env" "proxy_dequeue_shared_queue" (func $dequeue (param i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (global $count (mut i32) (i32.const 0))
  (data (i32.const 0) "q")
  (data (i32.const 8) "x-delivered")
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    global.get $heap local.set $p global.get $heap local.get $n i32.add global.set $heap local.get $p)
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $register (i32.const 0) (i32.const 1) (i32.const 64)))
    i32.const 1)
  (func (export "proxy_on_queue_ready") (param i32) (param $id i32)
    (block $empty
      (loop $next
        (br_if $empty (call $dequeue (local.get $id) (i32.const 72) (i32.const 76)))
        (global.set $count (i32.add (global.get $count) (i32.const 1)))
        (br $next))))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) i32.const 0)
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (local $n i32) (local $p i32)
    ;; The digits, last first, end at 220.
    (local.set $n (global.get $count))
    (local.set $p (i32.const 220))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digit (local.get $n)))
    (drop (call $add (i32.const 2) (i32.const 8) (i32.const 11) (local.get $p) (i32.sub (i32.const 220) (local.get $p))))
    i32.const 0)
)
