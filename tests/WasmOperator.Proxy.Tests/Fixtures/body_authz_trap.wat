;; body_authz whose callout handler traps: the VM dies while the request waits, paused on its whole body,
;; for the plugin's decision (the body goes to cluster "authz" as in body_authz.wat, then `unreachable`).
(module
  (import "env" "proxy_http_call" (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $set_effective (param i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 16384))
  (global $ctx (mut i32) (i32.const 0))
  (data (i32.const 16) "authz")
  (data (i32.const 32) ":status")
  (data (i32.const 48) "denied_by_body")
  (data (i32.const 64) "denied")
  ;; pairs: :method=GET :path=/ :authority=authz x-allow=yes (85 bytes)
  (data (i32.const 100) "\04\00\00\00\07\00\00\00\03\00\00\00\05\00\00\00\01\00\00\00\0a\00\00\00\05\00\00\00\07\00\00\00\03\00\00\00:method\00GET\00:path\00/\00:authority\00authz\00x-allow\00yes\00")
  ;; the same with x-allow=no (84 bytes)
  (data (i32.const 300) "\04\00\00\00\07\00\00\00\03\00\00\00\05\00\00\00\01\00\00\00\0a\00\00\00\05\00\00\00\07\00\00\00\02\00\00\00:method\00GET\00:path\00/\00:authority\00authz\00x-allow\00no\00")
  (func $malloc (export "malloc") (param $n i32) (result i32) (local $p i32)
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
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) i32.const 0)
  (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (local $allow i32)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
    (global.set $ctx (local.get $ctx))
    (global.set $heap (i32.const 16384))
    (if (call $get_buffer (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 204) (i32.const 208))
      (then (return (i32.const 0))))
    (local.set $allow (i32.eq (i32.load8_u (i32.load (i32.const 204))) (i32.const 121)))
    (if (call $http_call (i32.const 16) (i32.const 5)
          (select (i32.const 100) (i32.const 300) (local.get $allow)) (select (i32.const 85) (i32.const 84) (local.get $allow))
          (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 5000) (i32.const 212))
      (then (return (i32.const 0))))
    i32.const 1)
  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
    unreachable)
)
