;; A plugin whose allocator fails on demand, reached from a hostcall: proxy_on_request_headers
;; keeps the number of request headers and asks for property plugin_name, whose value the host
;; copies out through malloc. malloc then: 6 unreachable, 7 out-of-bounds load, 8 infinite loop,
;; 9 stack overflow, 13 division by zero; any other number allocates.
(module
  (import "env" "proxy_get_property" (func $get_property (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (global $selector (mut i32) (i32.const 0))
  (data (i32.const 16) "plugin_name")
  (func $recurse (param $n i32) (result i32)
    (i32.add (call $recurse (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))
  (func (export "malloc") (param $size i32) (result i32)
    (local $p i32)
    (if (i32.eq (global.get $selector) (i32.const 6)) (then unreachable))
    (if (i32.eq (global.get $selector) (i32.const 7)) (then (drop (i32.load (i32.const 0x7FFFFFF0)))))
    (if (i32.eq (global.get $selector) (i32.const 8)) (then (loop $forever (br $forever))))
    (if (i32.eq (global.get $selector) (i32.const 9)) (then (drop (call $recurse (i32.const 0)))))
    (if (i32.eq (global.get $selector) (i32.const 13)) (then (drop (i32.div_u (i32.const 1) (i32.sub (local.get $size) (local.get $size))))))
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (global.set $selector (local.get $n))
    (drop (call $get_property (i32.const 16) (i32.const 11) (i32.const 100) (i32.const 104)))
    (i32.const 0))
)
