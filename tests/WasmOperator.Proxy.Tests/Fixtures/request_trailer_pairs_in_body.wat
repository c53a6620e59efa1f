;; Reads all request trailers (map 1) in on_request_body, as the Rust SDK's get_http_request_trailers() does: anything
;; but OK traps (`unreachable`, where the SDK panics). Then logs "request trailer pairs: <n> bytes" (n: one digit, the
;; size of the pairs encoding when it is under 10, else '+').
(module
  (import "env" "proxy_get_header_map_pairs" (func $pairs (param i32 i32 i32) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 8192))
  (data (i32.const 300) "request trailer pairs: ? bytes")
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32) (local $size i32)
    (if (call $pairs (i32.const 1) (i32.const 100) (i32.const 104)) (then unreachable))
    (local.set $size (i32.load (i32.const 104)))
    (i32.store8 (i32.const 323)
      (select (i32.add (i32.const 0x30) (local.get $size)) (i32.const 0x2b) (i32.lt_u (local.get $size) (i32.const 10))))
    (drop (call $log (i32.const 2) (i32.const 300) (i32.const 30)))
    (i32.const 0))
)
