;; on_vm_start logs one 100000-byte message ('a' × 99999, then "é" split across the 16 KiB cut: bytes 16383-16384)
;; with proxy_log, then writes the same bytes to WASI stdout.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "malloc") (param i32) (result i32) (i32.const 0))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    (memory.fill (i32.const 1024) (i32.const 0x61) (i32.const 100000))
    (i32.store8 (i32.const 17407) (i32.const 0xC3)) ;; 1024 + 16383
    (i32.store8 (i32.const 17408) (i32.const 0xA9))
    (if (call $log (i32.const 2) (i32.const 1024) (i32.const 100000)) (then unreachable))
    ;; one iovec at 16: (ptr 1024, len 100000); bytes written at 24
    (i32.store (i32.const 16) (i32.const 1024))
    (i32.store (i32.const 20) (i32.const 100000))
    (if (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)) (then unreachable))
    (if (i32.ne (i32.load (i32.const 24)) (i32.const 100000)) (then unreachable))
    (i32.const 1))
)
