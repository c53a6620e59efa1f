;; Holds the whole response body (StopIterationAndBuffer on every chunk but the last), then lets it go at its
;; end: a plugin that needs the response whole before it leaves, as a body rewriter does.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    global.get $heap local.set $p global.get $heap local.get $n i32.add global.set $heap local.get $p)
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_response_body") (param i32 i32) (param $eos i32) (result i32)
    (i32.eqz (local.get $eos)))
)
