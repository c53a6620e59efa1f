;; on_vm_start grows its table by 1000 elements (must succeed), then by 10,000,000 more (past the host's
;; 10,000,000-element cap: table.grow must answer -1); anything else traps.
(module
  (memory (export "memory") 1)
  (table $t 1 funcref)
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    (if (i32.ne (table.grow $t (ref.null func) (i32.const 1000)) (i32.const 1)) (then unreachable))
    (if (i32.ne (table.grow $t (ref.null func) (i32.const 10000000)) (i32.const -1)) (then unreachable))
    (i32.const 1))
)
