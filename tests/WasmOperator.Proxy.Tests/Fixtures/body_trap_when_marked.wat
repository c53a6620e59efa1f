;; Per-stream state, as every SDK keeps it: on_request_headers marks the context "inspect"; at the end of the
;; body a marked stream is inspected, and the inspector traps (a parser bug an attacker's body triggers).
;; An unmarked stream (one whose headers this context never saw) is let through: a FAIL_RELOAD retry that gave a
;; fresh context the body callback alone would pass the request.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 16384))
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    global.get $heap local.set $p global.get $heap local.get $n i32.add global.set $heap local.get $p)
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_request_headers") (param $ctx i32) (param i32 i32) (result i32)
    (i32.store8 (i32.add (i32.const 1024) (i32.and (local.get $ctx) (i32.const 8191))) (i32.const 1))
    i32.const 0)
  (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
    (if (i32.load8_u (i32.add (i32.const 1024) (i32.and (local.get $ctx) (i32.const 8191))))
      (then unreachable))
    i32.const 0)
)
