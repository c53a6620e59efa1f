;; Counts the responses its VM saw in a global and adds the count, in decimal, to each response as the
;; header its plugin configuration names: state that lives exactly as long as the VM (with one shard,
;; the count of every request the plugin saw).
(module
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (global $count (mut i32) (i32.const 0))
  (global $name (mut i32) (i32.const 0))
  (global $name_len (mut i32) (i32.const 0))
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    global.get $heap local.set $p global.get $heap local.get $n i32.add global.set $heap local.get $p)
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    ;; The header name: the configuration bytes, in memory the host allocated (never freed).
    (drop (call $get_buffer (i32.const 7) (i32.const 0) (local.get $size) (i32.const 64) (i32.const 68)))
    (global.set $name (i32.load (i32.const 64)))
    (global.set $name_len (i32.load (i32.const 68)))
    i32.const 1)
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) i32.const 0)
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (local $n i32) (local $p i32)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    ;; The digits, last first, end at 220.
    (local.set $n (global.get $count))
    (local.set $p (i32.const 220))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digit (local.get $n)))
    (drop (call $add (i32.const 2) (global.get $name) (global.get $name_len) (local.get $p) (i32.sub (i32.const 220) (local.get $p))))
    i32.const 0)
)
