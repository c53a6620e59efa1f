;; Whole header maps replaced with proxy_set_header_map_pairs. Request: GET /replaced to authority
;; example.test with only x-only: req. Response: status 202 with only x-only: 1.
(module
  (import "env" "proxy_set_header_map_pairs" (func $set (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  ;; serialized pairs: count, then (name length, value length) per pair, then each name and value NUL-terminated
  (data (i32.const 100) "\04\00\00\00\07\00\00\00\03\00\00\00\05\00\00\00\09\00\00\00\0a\00\00\00\0c\00\00\00\06\00\00\00\03\00\00\00:method\00GET\00:path\00/replaced\00:authority\00example.test\00x-only\00req\00")
  (data (i32.const 300) "\02\00\00\00\06\00\00\00\01\00\00\00\07\00\00\00\03\00\00\00x-only\001\00:status\00202\00")
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
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
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $set (i32.const 0) (i32.const 100) (i32.const 99)))
    i32.const 0)
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (drop (call $set (i32.const 2) (i32.const 300) (i32.const 41)))
    i32.const 0)
)
