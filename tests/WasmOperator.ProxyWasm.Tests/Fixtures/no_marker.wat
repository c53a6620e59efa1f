;; Valid Wasm without any proxy_abi_version_* export.
(module
  (memory (export "memory") 1)
  (func (export "malloc") (param i32) (result i32) (i32.const 0)))
