;; Lets the request body stream on chunk by chunk, then answers 403 "denied at end" on its last chunk:
;; a plugin stopping a request whose body is already on its way upstream.
(module
  (import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 100) "denied_at_end")
  (data (i32.const 120) "denied at end")
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    global.get $heap
    local.set $p
    global.get $heap
    local.get $n
    i32.add
    global.set $heap
    local.get $p)
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_request_body") (param i32) (param i32) (param $eos i32) (result i32)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 0))))
    (drop (call $reply (i32.const 403) (i32.const 100) (i32.const 13) (i32.const 120) (i32.const 13) (i32.const 0) (i32.const 0) (i32.const -1)))
    i32.const 1)
)
