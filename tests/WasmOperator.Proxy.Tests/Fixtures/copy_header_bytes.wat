;; Copies the first 5 bytes of header values as the plugin reads them: request x-name → x-copied,
;; response x-up → x-up-copy. A plugin must get a field's bytes exactly as they came (Envoy hands over
;; raw bytes; cutting at a byte count shows which bytes it got), and what it writes must leave exactly
;; as it wrote it, whatever the bytes' encoding.
(module
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 100) "x-name")
  (data (i32.const 110) "x-copied")
  (data (i32.const 120) "x-up")
  (data (i32.const 130) "x-up-copy")
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    global.get $heap
    local.set $p
    global.get $heap
    local.get $n
    i32.add
    global.set $heap
    local.get $p)
  (func $copy (param $map i32) (param $from i32) (param $fromLen i32) (param $to i32) (param $toLen i32)
    (if (i32.eqz (call $get (local.get $map) (local.get $from) (local.get $fromLen) (i32.const 200) (i32.const 204)))
      (then (drop (call $add (local.get $map) (local.get $to) (local.get $toLen) (i32.load (i32.const 200))
        (select (i32.load (i32.const 204)) (i32.const 5) (i32.lt_u (i32.load (i32.const 204)) (i32.const 5))))))))
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (call $copy (i32.const 0) (i32.const 100) (i32.const 6) (i32.const 110) (i32.const 8))
    i32.const 0)
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (call $copy (i32.const 2) (i32.const 120) (i32.const 4) (i32.const 130) (i32.const 9))
    i32.const 0)
)
