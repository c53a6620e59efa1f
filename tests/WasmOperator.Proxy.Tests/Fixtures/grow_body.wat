;; Inserts 35 bytes ("GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n") at the start of every request body chunk that is
;; not the last, and lets it stream on: the body grows past the Content-Length the client declared.
(module
  (import "env" "proxy_set_buffer_bytes" (func $set (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 100) "GET /smuggled HTTP/1.1\0d\0aHost: a\0d\0a\0d\0a")
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
    (if (i32.eqz (local.get $eos))
      (then (drop (call $set (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 100) (i32.const 35)))))
    i32.const 0)
)
