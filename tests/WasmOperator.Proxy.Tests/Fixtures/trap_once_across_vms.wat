;; on_request_headers traps once for the whole plugin: the first call notes it in the plugin's shared data (shared by
;; all its VM shards) and traps; every later call, on any shard, continues without touching the request. With
;; FAIL_RELOAD the first request is retried on a fresh shard, which lets it through.
(module
  (import "env" "proxy_get_shared_data" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_shared_data" (func $set (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 100) "trapped")
  (data (i32.const 120) "1")
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
    (if (i32.eqz (call $get (i32.const 100) (i32.const 7) (i32.const 200) (i32.const 204) (i32.const 208)))
      (then (return (i32.const 0))))
    (drop (call $set (i32.const 100) (i32.const 7) (i32.const 120) (i32.const 1) (i32.const 0)))
    unreachable)
)
