;; As reply_from_callout_while_streaming, for requests with header x-check only (others pass untouched, so a test can
;; send the next request on the same connection): on_request_headers sends GET /x to cluster authz (60 s timeout) and
;; continues at once. The callout's answer makes its own request's stream effective (each callout's token maps to the
;; stream that made it, so several streams may share the VM) and answers 403 "denied" (proxy_send_local_response), or
;; closes the stream (proxy_close_stream) if the request has header x-close.
(module
  (import "env" "proxy_http_call" (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $set_effective (param i32) (result i32)))
  (import "env" "proxy_close_stream" (func $close (param i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "authz")
  (data (i32.const 32) "x-check")
  (data (i32.const 40) "x-close")
  (data (i32.const 48) "denied_by_callout")
  (data (i32.const 80) "denied")
  ;; pairs: :method=GET :path=/x :authority=authz (66 bytes)
  (data (i32.const 512) "\03\00\00\00\07\00\00\00\03\00\00\00\05\00\00\00\02\00\00\00\0a\00\00\00\05\00\00\00:method\00GET\00:path\00/x\00:authority\00authz\00")
  (func (export "malloc") (param i32) (result i32) (i32.const 8192))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param i32 i32) (result i32)
    (if (i32.eqz (call $get_header (i32.const 0) (i32.const 32) (i32.const 7) (i32.const 208) (i32.const 212)))
      (then
        (drop (call $http_call (i32.const 16) (i32.const 5) (i32.const 512) (i32.const 66)
          (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 60000) (i32.const 300)))
        ;; streams[token & 255] = this stream
        (i32.store (i32.add (i32.const 1024) (i32.shl (i32.and (i32.load (i32.const 300)) (i32.const 255)) (i32.const 2))) (local.get $ctx))))
    (i32.const 0))
  (func (export "proxy_on_http_call_response") (param i32) (param $token i32) (param i32 i32 i32)
    (drop (call $set_effective (i32.load (i32.add (i32.const 1024) (i32.shl (i32.and (local.get $token) (i32.const 255)) (i32.const 2))))))
    (if (i32.eqz (call $get_header (i32.const 0) (i32.const 40) (i32.const 7) (i32.const 208) (i32.const 212)))
      (then
        (drop (call $close (i32.const 0)))
        (return)))
    (drop (call $reply (i32.const 403) (i32.const 48) (i32.const 17) (i32.const 80) (i32.const 6) (i32.const 0) (i32.const 0) (i32.const -1))))
)
