;; Which context owns a callout. on_request_headers makes an HTTP call as the stream (the effective
;; context); with request header x-root it also makes one as the root context
;; (proxy_set_effective_context(root)). With x-defer, on_done makes one more call and returns false (a
;; host ignores that for streams and deletes the context at once); an on_http_call_response that still
;; arrived would make the stream effective and call proxy_done. Logs "delivered" in every
;; on_http_call_response and "deleted" in on_delete.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call" (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $set_effective (param i32) (result i32)))
  (import "env" "proxy_done" (func $done (result i32)))
  (memory (export "memory") 1)
  (global $root (mut i32) (i32.const 0))
  (global $defer (mut i32) (i32.const 0))
  (global $pending_done (mut i32) (i32.const 0))
  (data (i32.const 0) "delivered")
  (data (i32.const 16) "deleted")
  (data (i32.const 32) "x-root")
  (data (i32.const 48) "x-defer")
  (data (i32.const 64) "callee")
  ;; pairs: :method=GET :path=/slow :authority=callee
  (data (i32.const 300) "\03\00\00\00\07\00\00\00\03\00\00\00\05\00\00\00\05\00\00\00\0a\00\00\00\06\00\00\00:method\00GET\00:path\00/slow\00:authority\00callee\00")
  (func (export "malloc") (param i32) (result i32) (i32.const 8192))
  (func $call
    (drop (call $http_call (i32.const 64) (i32.const 6) (i32.const 300) (i32.const 70)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 200))))
  (func $has_header (param $key i32) (param $len i32) (result i32)
    (i32.eqz (call $get_header (i32.const 0) (local.get $key) (local.get $len) (i32.const 208) (i32.const 212))))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param $ctx i32) (param $parent i32)
    (if (i32.eqz (local.get $parent))
      (then (global.set $root (local.get $ctx)))))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param i32 i32) (result i32)
    (call $call)
    (if (call $has_header (i32.const 32) (i32.const 6))
      (then
        (drop (call $set_effective (global.get $root)))
        (call $call)
        (drop (call $set_effective (local.get $ctx)))))
    (global.set $defer (call $has_header (i32.const 48) (i32.const 7)))
    (i32.const 1))
  (func (export "proxy_on_done") (param $ctx i32) (result i32)
    (if (i32.eqz (global.get $defer))
      (then (return (i32.const 1))))
    (call $call)
    (global.set $pending_done (local.get $ctx))
    (i32.const 0))
  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
    (drop (call $log (i32.const 2) (i32.const 0) (i32.const 9)))
    (if (global.get $pending_done)
      (then
        (drop (call $set_effective (global.get $pending_done)))
        (global.set $pending_done (i32.const 0))
        (drop (call $done)))))
  (func (export "proxy_on_delete") (param i32)
    (drop (call $log (i32.const 2) (i32.const 16) (i32.const 7))))
)
