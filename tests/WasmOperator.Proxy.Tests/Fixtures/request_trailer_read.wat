;; Request trailers: on_request_trailers reads trailer "x-checksum" (map 1) and logs
;; "request trailer x-checksum=<value> body-eos=<d>" (d = end_of_stream of the last on_request_body
;; call before the trailers; 2 = none); on_response_headers adds response header
;; "x-request-trailer: <value>" and "x-request-body-eos: <d>".
(module
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 8192))
  (global $eos (mut i32) (i32.const 2))
  (global $ptr (mut i32) (i32.const 0))
  (global $len (mut i32) (i32.const 0))
  (data (i32.const 100) "x-checksum")
  (data (i32.const 120) "x-request-trailer")
  (data (i32.const 140) "x-request-body-eos")
  (data (i32.const 160) "012")
  (data (i32.const 300) "request trailer x-checksum=")
  (data (i32.const 340) " body-eos=")
  (func $malloc (export "malloc") (param $n i32) (result i32) (local $p i32)
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
    (global.set $eos (i32.const 2))
    (global.set $len (i32.const 0))
    (global.set $heap (i32.const 8192))
    i32.const 0)
  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
    (global.set $eos (local.get 2))
    i32.const 0)
  (func (export "proxy_on_request_trailers") (param i32 i32) (result i32) (local $line i32)
    (if (i32.eqz (call $get (i32.const 1) (i32.const 100) (i32.const 10) (i32.const 200) (i32.const 204)))
      (then
        (global.set $ptr (i32.load (i32.const 200)))
        (global.set $len (i32.load (i32.const 204)))))
    ;; line = "request trailer x-checksum=" + value + " body-eos=" + digit
    (local.set $line (call $malloc (i32.add (global.get $len) (i32.const 38))))
    (memory.copy (local.get $line) (i32.const 300) (i32.const 27))
    (memory.copy (i32.add (local.get $line) (i32.const 27)) (global.get $ptr) (global.get $len))
    (memory.copy (i32.add (i32.add (local.get $line) (i32.const 27)) (global.get $len)) (i32.const 340) (i32.const 10))
    (memory.copy (i32.add (i32.add (local.get $line) (i32.const 37)) (global.get $len)) (i32.add (i32.const 160) (global.get $eos)) (i32.const 1))
    (drop (call $log (i32.const 2) (local.get $line) (i32.add (global.get $len) (i32.const 38))))
    i32.const 0)
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (if (global.get $len)
      (then (drop (call $add (i32.const 2) (i32.const 120) (i32.const 17) (global.get $ptr) (global.get $len)))))
    (drop (call $add (i32.const 2) (i32.const 140) (i32.const 18) (i32.add (i32.const 160) (global.get $eos)) (i32.const 1)))
    i32.const 0)
)
