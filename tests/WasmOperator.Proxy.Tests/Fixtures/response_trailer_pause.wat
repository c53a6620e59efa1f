;; Pauses on response trailers: on_response_trailers sends an HTTP callout (GET / with x-allow: yes) to
;; cluster "authz" and pauses; the callout response adds response trailer
;; "x-authz-status: <callout :status>" and resumes the response (proxy_continue_stream(1)).
(module
  (import "env" "proxy_http_call" (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $set_effective (param i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 16384))
  (global $ctx (mut i32) (i32.const 0))
  (data (i32.const 16) "authz")
  (data (i32.const 32) ":status")
  (data (i32.const 48) "x-authz-status")
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
  (func (export "proxy_on_response_trailers") (param $ctx i32) (param i32) (result i32)
    (global.set $ctx (local.get $ctx))
    (global.set $heap (i32.const 16384))
    (if (call $http_call (i32.const 16) (i32.const 5) (i32.const 100) (i32.const 85) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 5000) (i32.const 200))
      (then (return (i32.const 0))))
    i32.const 1)
  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
    (drop (call $set_effective (global.get $ctx)))
    (if (i32.eqz (call $get_header (i32.const 6) (i32.const 32) (i32.const 7) (i32.const 204) (i32.const 208)))
      (then (drop (call $add (i32.const 3) (i32.const 48) (i32.const 14) (i32.load (i32.const 204)) (i32.load (i32.const 208))))))
    (drop (call $continue (i32.const 1))))
)
