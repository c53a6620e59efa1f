;; A table declared with 10,000,001 elements, one past the host's cap: the VM cannot be created.
(module
  (memory (export "memory") 1)
  (table $t 10000001 funcref)
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
)
