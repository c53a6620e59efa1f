;; Reads properties the way SDKs do (path segments joined by NUL) and echoes them. Response headers:
;; x-upstream-address (upstream.address), x-code-details (response.code_details), x-query (request.query).
;; Response trailers: x-grpc-status = the digit of response.grpc_status (an 8-byte integer) when present.
(module
  (import "env" "proxy_get_property" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 100) "upstream\00address")
  (data (i32.const 120) "x-upstream-address")
  (data (i32.const 140) "response\00code_details")
  (data (i32.const 170) "x-code-details")
  (data (i32.const 190) "request\00query")
  (data (i32.const 210) "x-query")
  (data (i32.const 220) "response\00grpc_status")
  (data (i32.const 250) "x-grpc-status")
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    global.get $heap
    local.set $p
    global.get $heap
    local.get $n
    i32.add
    global.set $heap
    local.get $p)
  ;; Adds the property at $path to map $map under $name when the host has it.
  (func $echo (param $path i32) (param $plen i32) (param $map i32) (param $name i32) (param $nlen i32)
    (if (i32.eqz (call $get (local.get $path) (local.get $plen) (i32.const 1000) (i32.const 1004)))
      (then (drop (call $add (local.get $map) (local.get $name) (local.get $nlen) (i32.load (i32.const 1000)) (i32.load (i32.const 1004)))))))
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (call $echo (i32.const 100) (i32.const 16) (i32.const 2) (i32.const 120) (i32.const 18))
    (call $echo (i32.const 140) (i32.const 21) (i32.const 2) (i32.const 170) (i32.const 14))
    (call $echo (i32.const 190) (i32.const 13) (i32.const 2) (i32.const 210) (i32.const 7))
    i32.const 0)
  (func (export "proxy_on_response_trailers") (param i32 i32) (result i32)
    (if (i32.eqz (call $get (i32.const 220) (i32.const 20) (i32.const 1000) (i32.const 1004)))
      (then
        (i32.store8 (i32.const 270) (i32.add (i32.const 48) (i32.load8_u (i32.load (i32.const 1000)))))
        (drop (call $add (i32.const 3) (i32.const 250) (i32.const 13) (i32.const 270) (i32.const 1)))))
    i32.const 0)
)
