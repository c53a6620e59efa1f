;; Adds a response trailer no HTTP/2 frame can carry: in the on_response_body call with
;; end_of_stream it adds "bad name: yes" (a space in the name) to the response trailers (map 3).
(module
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 100) "bad name")
  (data (i32.const 120) "yes")
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
  (func (export "proxy_on_response_body") (param i32 i32) (param $eos i32) (result i32)
    (if (local.get $eos)
      (then (drop (call $add (i32.const 3) (i32.const 100) (i32.const 8) (i32.const 120) (i32.const 3)))))
    i32.const 0)
)
