;; Replaces the upstream's response: on_response_headers answers 502 "replaced by plugin" with header x-from-plugin: yes
;; (proxy_send_local_response from the response's side, as a plugin that hides an upstream's error page does).
(module
  (import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "replaced by plugin")
  ;; One header in the pairs encoding: count 1, name length 13, value length 3, "x-from-plugin\00yes\00".
  (data (i32.const 64) "\01\00\00\00\0d\00\00\00\03\00\00\00x-from-plugin\00yes\00")
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (drop (call $reply (i32.const 502) (i32.const 0) (i32.const 0) (i32.const 16) (i32.const 18) (i32.const 64) (i32.const 30) (i32.const -1)))
    i32.const 1))
