;; Pauses the response headers for a callout to cluster "authz", then resumes the *request* direction
;; (proxy_continue_stream(0)) from the callout's answer: as in Envoy, that does not resume the response.
(module
  (import "env" "proxy_http_call" (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $set_effective (param i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 16384))
  (global $ctx (mut i32) (i32.const 0))
  (data (i32.const 16) "authz")
  ;; pairs: :method=GET :path=/ :authority=authz x-allow=yes
  (data (i32.const 100) "\04\00\00\00\07\00\00\00\03\00\00\00\05\00\00\00\01\00\00\00\0a\00\00\00\05\00\00\00\07\00\00\00\03\00\00\00:method\00GET\00:path\00/\00:authority\00authz\00x-allow\00yes\00")
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
  (func (export "proxy_on_response_headers") (param $ctx i32) (param i32) (param i32) (result i32)
    (global.set $ctx (local.get $ctx))
    (global.set $heap (i32.const 16384))
    (if (call $http_call (i32.const 16) (i32.const 5) (i32.const 100) (i32.const 85) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 5000) (i32.const 200))
      (then (return (i32.const 0))))
    i32.const 1)
  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
    (drop (call $set_effective (global.get $ctx)))
    (drop (call $continue (i32.const 0))))
)
