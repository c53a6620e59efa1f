;; Response trailers: adds "x-wasm-trailer: added", rewrites grpc-message to "rewritten by wasm" and adds
;; "x-last-body-eos" = end_of_stream of the last on_response_body call before the trailers (0/1; 2 = none).
(module
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_replace_header_map_value" (func $replace (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (global $eos (mut i32) (i32.const 2))
  (data (i32.const 100) "x-wasm-trailer")
  (data (i32.const 120) "added")
  (data (i32.const 140) "x-last-body-eos")
  (data (i32.const 160) "012")
  (data (i32.const 180) "grpc-message")
  (data (i32.const 200) "rewritten by wasm")
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
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (global.set $eos (i32.const 2))
    i32.const 0)
  (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32)
    (global.set $eos (local.get 2))
    i32.const 0)
  (func (export "proxy_on_response_trailers") (param i32 i32) (result i32)
    (drop (call $add (i32.const 3) (i32.const 100) (i32.const 14) (i32.const 120) (i32.const 5)))
    (drop (call $replace (i32.const 3) (i32.const 180) (i32.const 12) (i32.const 200) (i32.const 17)))
    (drop (call $add (i32.const 3) (i32.const 140) (i32.const 15) (i32.add (i32.const 160) (global.get $eos)) (i32.const 1)))
    i32.const 0)
)
