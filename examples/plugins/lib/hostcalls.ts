// Correct wrappers for host calls that @solo-io/proxy-runtime 0.1.8 declares or wraps wrongly
// (shared data passes the value buffer as ret_ptr_ptr; set_buffer_bytes is bound to
// proxy_get_buffer_status). Results come back through the host allocator (`malloc`).
import { free } from "@solo-io/proxy-runtime/malloc";

// @ts-ignore: decorator
@external("env", "proxy_get_shared_data")
declare function proxy_get_shared_data(key_ptr: usize, key_size: usize, value_ptr_ptr: usize, value_size_ptr: usize, cas_ptr: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_set_shared_data")
declare function proxy_set_shared_data(key_ptr: usize, key_size: usize, value_ptr: usize, value_size: usize, cas: u32): u32;
// @ts-ignore: decorator
@external("env", "proxy_set_buffer_bytes")
declare function proxy_set_buffer_bytes(buffer_type: i32, start: u32, length: u32, data_ptr: usize, data_size: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_register_shared_queue")
declare function proxy_register_shared_queue(name_ptr: usize, name_size: usize, qid_ptr: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_enqueue_shared_queue")
declare function proxy_enqueue_shared_queue(qid: u32, data_ptr: usize, data_size: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_dequeue_shared_queue")
declare function proxy_dequeue_shared_queue(qid: u32, data_ptr_ptr: usize, data_size_ptr: usize): u32;

const OK: u32 = 0;

// Scratch cells the host writes results into (ptr, size, cas/qid).
const cells = new ArrayBuffer(16);

function cell(i: i32): usize {
  return changetype<usize>(cells) + <usize>(i * 4);
}

function takeReturnedBytes(): ArrayBuffer {
  const ptr = load<u32>(cell(0));
  const size = load<u32>(cell(1));
  if (size == 0 || ptr == 0) {
    return new ArrayBuffer(0);
  }
  // The host allocated `ptr` with malloc (an ArrayBuffer of `size` bytes): adopt it.
  const result = changetype<ArrayBuffer>(<usize>ptr);
  free(<usize>ptr);
  return result;
}

export class SharedValue {
  status: u32 = 0;
  value: string = "";
  cas: u32 = 0;
}

export function getSharedData(key: string): SharedValue {
  const k = String.UTF8.encode(key);
  store<u32>(cell(0), 0);
  store<u32>(cell(1), 0);
  store<u32>(cell(2), 0);
  const result = new SharedValue();
  result.status = proxy_get_shared_data(changetype<usize>(k), k.byteLength, cell(0), cell(1), cell(2));
  result.value = result.status == OK ? String.UTF8.decode(takeReturnedBytes()) : "";
  result.cas = load<u32>(cell(2));
  return result;
}

export function setSharedData(key: string, value: string, cas: u32): u32 {
  const k = String.UTF8.encode(key);
  const v = String.UTF8.encode(value);
  return proxy_set_shared_data(changetype<usize>(k), k.byteLength, changetype<usize>(v), v.byteLength, cas);
}

export function setBufferBytes(bufferType: i32, start: u32, length: u32, value: string): u32 {
  const v = String.UTF8.encode(value);
  return proxy_set_buffer_bytes(bufferType, start, length, changetype<usize>(v), v.byteLength);
}

export function registerQueue(name: string): u32 {
  const n = String.UTF8.encode(name);
  store<u32>(cell(2), 0);
  proxy_register_shared_queue(changetype<usize>(n), n.byteLength, cell(2));
  return load<u32>(cell(2));
}

export function enqueue(qid: u32, value: string): u32 {
  const v = String.UTF8.encode(value);
  return proxy_enqueue_shared_queue(qid, changetype<usize>(v), v.byteLength);
}

export class Dequeued {
  status: u32 = 0;
  value: string = "";
}

export function dequeue(qid: u32): Dequeued {
  store<u32>(cell(0), 0);
  store<u32>(cell(1), 0);
  const result = new Dequeued();
  result.status = proxy_dequeue_shared_queue(qid, cell(0), cell(1));
  result.value = result.status == OK ? String.UTF8.decode(takeReturnedBytes()) : "";
  return result;
}
