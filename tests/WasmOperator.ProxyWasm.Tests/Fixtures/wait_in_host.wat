;; In proxy_on_request_headers, calls the foreign function "wait" (a host function during which the test lets the call's
;; deadline pass while the thread uses no CPU, standing in for a thread the machine does not run) as many times as the
;; request has headers, each followed by a short loop, where the engine checks the deadline. Logs "done" when it returns.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_call_foreign_function" (func $foreign (param i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 8192))
  (data (i32.const 0) "wait")
  (data (i32.const 16) "done")
  (func (export "malloc") (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $ptr))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (local $waits i32) (local $i i32)
    (local.set $waits (local.get 1))
    (block $done
      (loop $wait
        (br_if $done (i32.eqz (local.get $waits)))
        (drop (call $foreign (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 100) (i32.const 104)))
        ;; A loop back-edge after each wait: where an epoch deadline is checked.
        (local.set $i (i32.const 0))
        (loop $spin
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $spin (i32.lt_u (local.get $i) (i32.const 100))))
        (local.set $waits (i32.sub (local.get $waits) (i32.const 1)))
        (br $wait)))
    (drop (call $log (i32.const 2) (i32.const 16) (i32.const 4)))
    (i32.const 0)))
