;; Header edits by name, as most plugins make them. Request: x-custom replaced, x-drop removed, x-multi
;; added twice, :path rewritten to /rewritten. Response: :status 201, x-upstream removed, x-multi added
;; twice, content-type replaced. Everything else must pass through as it came.
(module
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_replace_header_map_value" (func $replace (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_remove_header_map_value" (func $remove (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 100) "x-custom")
  (data (i32.const 110) "replaced")
  (data (i32.const 120) "x-drop")
  (data (i32.const 130) "x-multi")
  (data (i32.const 140) "12ab")
  (data (i32.const 150) ":path")
  (data (i32.const 160) "/rewritten")
  (data (i32.const 180) ":status")
  (data (i32.const 190) "201")
  (data (i32.const 200) "x-upstream")
  (data (i32.const 220) "content-type")
  (data (i32.const 240) "text/x-edited")
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
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $replace (i32.const 0) (i32.const 100) (i32.const 8) (i32.const 110) (i32.const 8)))
    (drop (call $remove (i32.const 0) (i32.const 120) (i32.const 6)))
    (drop (call $add (i32.const 0) (i32.const 130) (i32.const 7) (i32.const 140) (i32.const 1)))
    (drop (call $add (i32.const 0) (i32.const 130) (i32.const 7) (i32.const 141) (i32.const 1)))
    (drop (call $replace (i32.const 0) (i32.const 150) (i32.const 5) (i32.const 160) (i32.const 10)))
    i32.const 0)
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (drop (call $replace (i32.const 2) (i32.const 180) (i32.const 7) (i32.const 190) (i32.const 3)))
    (drop (call $remove (i32.const 2) (i32.const 200) (i32.const 10)))
    (drop (call $add (i32.const 2) (i32.const 130) (i32.const 7) (i32.const 142) (i32.const 1)))
    (drop (call $add (i32.const 2) (i32.const 130) (i32.const 7) (i32.const 143) (i32.const 1)))
    (drop (call $replace (i32.const 2) (i32.const 220) (i32.const 12) (i32.const 240) (i32.const 13)))
    i32.const 0)
)
