;; Upper-cases the payload of the WebSocket text frames in each body chunk, as a plugin inspecting an upgraded stream's
;; messages does: the request's (the client's masked frames) when its configuration starts with 'q', the response's
;; (the upstream's unmasked frames) when it starts with 's'. Each frame is unmasked, its a-z made A-Z, masked again, and
;; the chunk written back whole with proxy_set_buffer_bytes; frames of 126 bytes or more, and a frame cut at the chunk's
;; end, are left as they are (the tests send short messages).
(module
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_buffer_bytes" (func $set_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $direction (mut i32) (i32.const 0))
  (func (export "malloc") (param i32) (result i32) (i32.const 8192))
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    ;; Plugin configuration (buffer 7): its first byte picks the direction.
    (if (i32.eqz (local.get $size)) (then (return (i32.const 1))))
    (drop (call $get_buffer (i32.const 7) (i32.const 0) (local.get $size) (i32.const 16) (i32.const 20)))
    (global.set $direction (i32.load8_u (i32.load (i32.const 16))))
    i32.const 1)
  ;; Rewrites the chunk of body buffer $type (0 request, 1 response) of $size bytes.
  (func $upper (param $type i32) (param $size i32)
    (local $base i32) (local $pos i32) (local $len i32) (local $hdr i32) (local $masked i32) (local $i i32) (local $k i32) (local $p i32) (local $c i32)
    (if (i32.eqz (local.get $size)) (then (return)))
    (drop (call $get_buffer (local.get $type) (i32.const 0) (local.get $size) (i32.const 16) (i32.const 20)))
    (local.set $base (i32.load (i32.const 16)))
    (block $done
      (loop $frames
        (br_if $done (i32.gt_u (i32.add (local.get $pos) (i32.const 2)) (local.get $size)))
        (local.set $len (i32.and (i32.load8_u (i32.add (local.get $base) (i32.add (local.get $pos) (i32.const 1)))) (i32.const 0x7f)))
        (br_if $done (i32.ge_u (local.get $len) (i32.const 126)))
        (local.set $masked (i32.and (i32.load8_u (i32.add (local.get $base) (i32.add (local.get $pos) (i32.const 1)))) (i32.const 0x80)))
        (local.set $hdr (select (i32.const 6) (i32.const 2) (local.get $masked)))
        (br_if $done (i32.gt_u (i32.add (local.get $pos) (i32.add (local.get $hdr) (local.get $len))) (local.get $size)))
        (if (i32.eq (i32.and (i32.load8_u (i32.add (local.get $base) (local.get $pos))) (i32.const 0x0f)) (i32.const 1))
          (then
            (local.set $i (i32.const 0))
            (block $end
              (loop $bytes
                (br_if $end (i32.ge_u (local.get $i) (local.get $len)))
                (local.set $k (select
                  (i32.load8_u (i32.add (local.get $base) (i32.add (local.get $pos) (i32.add (i32.const 2) (i32.and (local.get $i) (i32.const 3))))))
                  (i32.const 0)
                  (local.get $masked)))
                (local.set $p (i32.add (local.get $base) (i32.add (local.get $pos) (i32.add (local.get $hdr) (local.get $i)))))
                (local.set $c (i32.xor (i32.load8_u (local.get $p)) (local.get $k)))
                (if (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 122)))
                  (then (local.set $c (i32.sub (local.get $c) (i32.const 32)))))
                (i32.store8 (local.get $p) (i32.xor (local.get $c) (local.get $k)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $bytes)))))
        (local.set $pos (i32.add (local.get $pos) (i32.add (local.get $hdr) (local.get $len))))
        (br $frames)))
    (drop (call $set_buffer (local.get $type) (i32.const 0) (local.get $size) (local.get $base) (local.get $size))))
  (func (export "proxy_on_request_body") (param i32) (param $size i32) (param i32) (result i32)
    (if (i32.eq (global.get $direction) (i32.const 113)) (then (call $upper (i32.const 0) (local.get $size))))
    i32.const 0)
  (func (export "proxy_on_response_body") (param i32) (param $size i32) (param i32) (result i32)
    (if (i32.eq (global.get $direction) (i32.const 115)) (then (call $upper (i32.const 1) (local.get $size))))
    i32.const 0)
)
