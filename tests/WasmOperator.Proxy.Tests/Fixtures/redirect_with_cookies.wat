;; An OIDC-style login redirect: on_request_headers answers 302 with a location and two set-cookie headers
;; (the state and the nonce), as an auth plugin does before sending the browser to the identity provider.
(module
  (import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 100) "oidc_redirect")
  ;; pairs: location, set-cookie state=abc..., set-cookie nonce=xyz...
  (data (i32.const 256) "\03\00\00\00\08\00\00\00\1d\00\00\00\0a\00\00\00\1b\00\00\00\0a\00\00\00\1b\00\00\00\6c\6f\63\61\74\69\6f\6e\00\68\74\74\70\73\3a\2f\2f\69\64\70\2e\65\78\61\6d\70\6c\65\2f\61\75\74\68\6f\72\69\7a\65\00\73\65\74\2d\63\6f\6f\6b\69\65\00\73\74\61\74\65\3d\61\62\63\3b\20\50\61\74\68\3d\2f\3b\20\48\74\74\70\4f\6e\6c\79\00\73\65\74\2d\63\6f\6f\6b\69\65\00\6e\6f\6e\63\65\3d\78\79\7a\3b\20\50\61\74\68\3d\2f\3b\20\48\74\74\70\4f\6e\6c\79\00")
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    (local.set $p (global.get $heap)) (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $reply (i32.const 302) (i32.const 100) (i32.const 13) (i32.const 0) (i32.const 0) (i32.const 256) (i32.const 145) (i32.const -1)))
    i32.const 1)
)
