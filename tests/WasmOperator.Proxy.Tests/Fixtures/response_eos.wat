;; Shows how a response reaches the plugin: on_response_headers adds "x-headers-eos: 0|1" (its
;; end_of_stream flag); every on_response_body logs "response body callback" at info level.
(module
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 100) "x-headers-eos")
  (data (i32.const 120) "01")
  (data (i32.const 140) "response body callback")
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
    (drop (call $add (i32.const 2) (i32.const 100) (i32.const 13) (i32.add (i32.const 120) (i32.ne (local.get 2) (i32.const 0))) (i32.const 1)))
    i32.const 0)
  (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32)
    (drop (call $log (i32.const 2) (i32.const 140) (i32.const 22)))
    i32.const 0)
)
