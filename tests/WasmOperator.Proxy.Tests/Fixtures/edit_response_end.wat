;; Edits the end of a streamed response body as the request asks, without holding it (the head keeps the upstream's
;; content-length): request header x-body-end "grow" appends "+tail" to the last chunk, "shrink" replaces the last
;; chunk with "x"; x-trailer-name/x-trailer-value add that response trailer at the end ('~' in the value becomes LF).
(module
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_buffer_bytes" (func $set (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 8192))
  (data (i32.const 16) "x-body-end")
  (data (i32.const 32) "+tail")
  (data (i32.const 40) "x")
  (data (i32.const 48) "x-trailer-name")
  (data (i32.const 64) "x-trailer-value")
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    global.get $heap local.set $p global.get $heap local.get $n i32.add global.set $heap local.get $p)
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_response_body") (param i32) (param $size i32) (param $eos i32) (result i32)
    (local $np i32) (local $nn i32) (local $vp i32) (local $vn i32) (local $i i32)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 0))))
    (if (i32.eqz (call $get (i32.const 0) (i32.const 16) (i32.const 10) (i32.const 200) (i32.const 204)))
      (then
        (if (i32.eq (i32.load8_u (i32.load (i32.const 200))) (i32.const 103)) ;; 'g'
          (then (drop (call $set (i32.const 1) (local.get $size) (i32.const 0) (i32.const 32) (i32.const 5))))
          (else (drop (call $set (i32.const 1) (i32.const 0) (local.get $size) (i32.const 40) (i32.const 1)))))))
    (if (i32.eqz (call $get (i32.const 0) (i32.const 48) (i32.const 14) (i32.const 200) (i32.const 204)))
      (then
        (local.set $np (i32.load (i32.const 200)))
        (local.set $nn (i32.load (i32.const 204)))
        (if (i32.eqz (call $get (i32.const 0) (i32.const 64) (i32.const 15) (i32.const 200) (i32.const 204)))
          (then
            (local.set $vp (i32.load (i32.const 200)))
            (local.set $vn (i32.load (i32.const 204)))
            (block $done (loop $l
              (br_if $done (i32.ge_u (local.get $i) (local.get $vn)))
              (if (i32.eq (i32.load8_u (i32.add (local.get $vp) (local.get $i))) (i32.const 126))
                (then (i32.store8 (i32.add (local.get $vp) (local.get $i)) (i32.const 10))))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $l)))
            (drop (call $add (i32.const 3) (local.get $np) (local.get $nn) (local.get $vp) (local.get $vn)))))))
    i32.const 0)
)
