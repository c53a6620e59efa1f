;; Answers every request itself: status from request header x-reply-status (3 digits, default 204), body "body!",
;; and a header x-from-plugin: yes. For local replies whose status forbids a body (204, 304).
(module
  (import "env" "proxy_get_header_map_value" (func $get_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "x-reply-status")
  (data (i32.const 48) "local_reply")
  (data (i32.const 64) "body!")
  ;; pairs: x-from-plugin=yes
  (data (i32.const 128) "\01\00\00\00\0d\00\00\00\03\00\00\00x-from-plugin\00yes\00")
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    global.get $heap local.set $p global.get $heap local.get $n i32.add global.set $heap local.get $p)
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (local $p i32) (local $status i32)
    (global.set $heap (i32.const 4096))
    (local.set $status (i32.const 204))
    (if (i32.eqz (call $get_header (i32.const 0) (i32.const 16) (i32.const 14) (i32.const 96) (i32.const 100)))
      (then
        (if (i32.eq (i32.load (i32.const 100)) (i32.const 3))
          (then
            (local.set $p (i32.load (i32.const 96)))
            (local.set $status
              (i32.add
                (i32.add
                  (i32.mul (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)) (i32.const 100))
                  (i32.mul (i32.sub (i32.load8_u offset=1 (local.get $p)) (i32.const 48)) (i32.const 10)))
                (i32.sub (i32.load8_u offset=2 (local.get $p)) (i32.const 48))))))))
    (drop (call $reply (local.get $status) (i32.const 48) (i32.const 11) (i32.const 64) (i32.const 5) (i32.const 128) (i32.const 30) (i32.const -1)))
    i32.const 1)
)
