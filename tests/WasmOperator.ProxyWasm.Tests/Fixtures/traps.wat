;; A plugin that fails on demand. proxy_on_request_headers picks the failure from the number of
;; request headers: 5 healthy (continue), 6 unreachable, 7 out-of-bounds load, 8 infinite loop,
;; 9 stack overflow, 10 proc_exit, 11 memory growth until the limit refuses, 12 an import the host
;; does not provide.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "env" "proxy_not_a_real_hostcall" (func $missing (param i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 0) "ok")
  (func (export "malloc") (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func $recurse (param $n i32) (result i32)
    (i32.add (call $recurse (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (if (i32.eq (local.get $n) (i32.const 6)) (then unreachable))
    (if (i32.eq (local.get $n) (i32.const 7)) (then (drop (i32.load (i32.const 0x7FFFFFF0)))))
    (if (i32.eq (local.get $n) (i32.const 8)) (then (loop $forever (br $forever))))
    (if (i32.eq (local.get $n) (i32.const 9)) (then (drop (call $recurse (i32.const 0)))))
    (if (i32.eq (local.get $n) (i32.const 10)) (then (call $proc_exit (i32.const 3))))
    (if (i32.eq (local.get $n) (i32.const 11))
      (then
        (loop $grow
          (if (i32.eq (memory.grow (i32.const 16)) (i32.const -1)) (then unreachable))
          (br $grow))))
    (if (i32.eq (local.get $n) (i32.const 12)) (then (drop (call $missing (i32.const 1)))))
    (drop (call $log (i32.const 2) (i32.const 0) (i32.const 2)))
    (i32.const 0))
)
