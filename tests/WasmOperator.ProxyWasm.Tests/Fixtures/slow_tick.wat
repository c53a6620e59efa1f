;; A root context whose on_tick is slower than its tick period: on_vm_start sets a 10 ms period,
;; on_tick logs "tick start", spins 20 ms on the clock (well within a 100 ms deadline) and logs
;; "tick end". proxy_on_request_headers traps (unreachable) when the request has 6 headers.
(module
  (import "env" "proxy_set_tick_period_milliseconds" (func $set_tick (param i32) (result i32)))
  (import "env" "proxy_get_current_time_nanoseconds" (func $now (param i32) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "tick start")
  (data (i32.const 120) "tick end")
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    (drop (call $set_tick (i32.const 10)))
    (i32.const 1))
  (func (export "proxy_on_tick") (param i32)
    (local $start i64)
    (drop (call $log (i32.const 2) (i32.const 100) (i32.const 10)))
    (drop (call $now (i32.const 0)))
    (local.set $start (i64.load (i32.const 0)))
    (loop $spin
      (drop (call $now (i32.const 0)))
      (br_if $spin (i64.lt_u (i64.sub (i64.load (i32.const 0)) (local.get $start)) (i64.const 20000000))))
    (drop (call $log (i32.const 2) (i32.const 120) (i32.const 8))))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (if (i32.eq (local.get 1) (i32.const 6)) (then unreachable))
    (i32.const 0))
)
