;; Pauses the response at its headers. While only the response waits (the request body still streams), continues the
;; request from on_tick, which is not paused: a continue that must do nothing; it logs "continued the request before it
;; paused". Then pauses the request at the end of its body. Once both wait, it resumes the response; two ticks later it
;; adds a gRPC message "late" to the request body it holds and resumes the request. The message reaches the upstream
;; only if the early continue did not resume the later pause. One stream per VM at a time.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $tick_period (param i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $set_effective (param i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  (import "env" "proxy_set_buffer_bytes" (func $set_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "continued the request before it paused")
  ;; a gRPC message: uncompressed, length 4, "late"
  (data (i32.const 64) "\00\00\00\00\04late")
  (global $heap (mut i32) (i32.const 4096))
  (global $stream (mut i32) (i32.const 0))
  (global $request_paused (mut i32) (i32.const 0))
  (global $response_paused (mut i32) (i32.const 0))
  (global $continued_early (mut i32) (i32.const 0))
  (global $countdown (mut i32) (i32.const 0))
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    global.get $heap local.set $p global.get $heap local.get $n i32.add global.set $heap local.get $p)
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $tick_period (i32.const 50)))
    i32.const 1)
  (func (export "proxy_on_request_body") (param $ctx i32) (param i32) (param $eos i32) (result i32)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 0))))
    (global.set $request_paused (i32.const 1))
    i32.const 1)
  (func (export "proxy_on_response_headers") (param $ctx i32) (param i32 i32) (result i32)
    (global.set $stream (local.get $ctx))
    (global.set $response_paused (i32.const 1))
    i32.const 1)
  (func (export "proxy_on_done") (param $ctx i32) (result i32)
    (if (i32.eq (local.get $ctx) (global.get $stream))
      (then
        (global.set $stream (i32.const 0))
        (global.set $request_paused (i32.const 0))
        (global.set $response_paused (i32.const 0))
        (global.set $continued_early (i32.const 0))
        (global.set $countdown (i32.const 0))))
    i32.const 1)
  (func (export "proxy_on_tick") (param i32)
    (if (i32.eqz (global.get $stream)) (then (return)))
    (drop (call $set_effective (global.get $stream)))
    ;; Only the response waits: continue the request, which is not paused.
    (if (i32.and (global.get $response_paused) (i32.eqz (i32.or (global.get $request_paused) (global.get $continued_early))))
      (then
        (drop (call $continue (i32.const 0)))
        (global.set $continued_early (i32.const 1))
        (drop (call $log (i32.const 2) (i32.const 16) (i32.const 38)))
        (return)))
    ;; Both wait: the response goes on first.
    (if (i32.and (global.get $response_paused) (global.get $request_paused))
      (then
        (drop (call $continue (i32.const 1)))
        (global.set $response_paused (i32.const 0))
        (global.set $countdown (i32.const 2))
        (return)))
    (if (i32.and (global.get $request_paused) (i32.gt_s (global.get $countdown) (i32.const 0)))
      (then
        (global.set $countdown (i32.sub (global.get $countdown) (i32.const 1)))
        (if (i32.eqz (global.get $countdown))
          (then
            (drop (call $set_buffer (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 64) (i32.const 9)))
            (drop (call $continue (i32.const 0)))
            (global.set $request_paused (i32.const 0)))))))
)
