// The top level of a JSON object, enough for a plugin configuration: a pluginConfig object reaches
// proxy_on_configure as JSON text (it is a google.protobuf.Struct, as on Istio/Envoy). String, number
// and array members are kept; nested objects are checked and skipped. AssemblyScript 0.14 has no JSON
// library and no exceptions, so a problem is a message in `error` (the first one found), not a throw.

export enum JsonKind { Null, Bool, Number, String, Array, Object }

const MAX_DEPTH = 64;

class Member {
  key: string = "";
  kind: JsonKind = JsonKind.Null;
  // A string's decoded value, a number's or bool's literal text.
  text: string = "";
  // An array's elements: their kinds and texts as above ("" for a nested array or object).
  itemKinds: JsonKind[] = [];
  itemTexts: string[] = [];
}

function kindName(kind: JsonKind): string {
  switch (kind) {
    case JsonKind.Null: return "null";
    case JsonKind.Bool: return "a boolean";
    case JsonKind.Number: return "a number";
    case JsonKind.String: return "a string";
    case JsonKind.Array: return "an array";
    default: return "an object";
  }
}

export class JsonObject {
  // Empty when the text is a JSON object and every member read so far had the type asked for.
  error: string = "";
  members: Member[] = [];

  private find(key: string): Member | null {
    // The last of duplicate keys wins, as in most JSON readers.
    for (let i = this.members.length - 1; i >= 0; i--) {
      if (this.members[i].key == key) {
        return this.members[i];
      }
    }
    return null;
  }

  private wrongType(key: string, expected: string, got: string): void {
    if (this.error == "") {
      this.error = "configuration key \"" + key + "\" must be " + expected + ", not " + got;
    }
  }

  // True when the key is there with a value other than null (a null member reads as absent everywhere here).
  has(key: string): bool {
    const member = this.find(key);
    return member != null && member.kind != JsonKind.Null;
  }

  // The member's string; `fallback` when absent or null, and an error when it has another type.
  getString(key: string, fallback: string): string {
    const member = this.find(key);
    if (member == null || member.kind == JsonKind.Null) {
      return fallback;
    }
    if (member.kind != JsonKind.String) {
      this.wrongType(key, "a string", kindName(member.kind));
      return fallback;
    }
    return member.text;
  }

  // The member's number; `fallback` when absent or null, and an error when it has another type.
  getNumber(key: string, fallback: f64): f64 {
    const member = this.find(key);
    if (member == null || member.kind == JsonKind.Null) {
      return fallback;
    }
    if (member.kind != JsonKind.Number) {
      this.wrongType(key, "a number", kindName(member.kind));
      return fallback;
    }
    return parseFloat(member.text);
  }

  // The member's elements as strings (or as number literals, with `kind` Number); `fallback` when
  // absent or null, and an error when it is not an array or an element has another type.
  getArray(key: string, kind: JsonKind, fallback: string[]): string[] {
    const member = this.find(key);
    if (member == null || member.kind == JsonKind.Null) {
      return fallback;
    }
    const expected = kind == JsonKind.String ? "an array of strings" : "an array of numbers";
    if (member.kind != JsonKind.Array) {
      this.wrongType(key, expected, kindName(member.kind));
      return fallback;
    }
    for (let i = 0; i < member.itemKinds.length; i++) {
      if (member.itemKinds[i] != kind) {
        this.wrongType(key, expected, "an array holding " + kindName(member.itemKinds[i]) + " at [" + i.toString() + "]");
        return fallback;
      }
    }
    return member.itemTexts;
  }

  // Records a problem with a member's value that its type does not show (an empty name, a range).
  invalid(key: string, reason: string): void {
    if (this.error == "") {
      this.error = "configuration key \"" + key + "\" " + reason;
    }
  }
}

// True when the first non-blank character is `{`: the configuration is meant as a JSON object. Any other
// text (a plain string, as the SDK examples take) keeps its meaning as-is.
export function looksLikeJsonObject(text: string): bool {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!isBlank(c)) {
      return c == 0x7B;
    }
  }
  return false;
}

// Reads `text` as one JSON object (RFC 8259); `error` says where it is not one.
export function parseJsonObject(text: string): JsonObject {
  const parser = new Parser(text);
  const result = new JsonObject();
  parser.object(result);
  if (parser.error == "") {
    parser.blank();
    if (parser.at < text.length) {
      parser.fail("text after the closing '}'");
    }
  }
  if (parser.error != "") {
    result.error = "configuration is not valid JSON: " + parser.error;
  }
  return result;
}

function isBlank(c: i32): bool {
  return c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D;
}

function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

function hexValue(c: i32): i32 {
  if (isDigit(c)) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

class Parser {
  text: string;
  at: i32 = 0;
  error: string = "";
  // The text of the last string, number or bool read.
  scalar: string = "";

  constructor(text: string) {
    this.text = text;
  }

  fail(what: string): void {
    if (this.error == "") {
      this.error = what + " at character " + (this.at + 1).toString();
    }
  }

  peek(): i32 {
    return this.at < this.text.length ? this.text.charCodeAt(this.at) : -1;
  }

  blank(): void {
    while (this.at < this.text.length && isBlank(this.text.charCodeAt(this.at))) {
      this.at++;
    }
  }

  expect(c: i32, what: string): bool {
    this.blank();
    if (this.peek() != c) {
      this.fail("expected " + what);
      return false;
    }
    this.at++;
    return true;
  }

  // The top-level object, its members kept in `into`.
  object(into: JsonObject): void {
    if (!this.expect(0x7B, "'{'")) return;
    this.blank();
    if (this.peek() == 0x7D) {
      this.at++;
      return;
    }
    while (this.error == "") {
      this.blank();
      if (this.peek() != 0x22) {
        this.fail("expected a member name in double quotes");
        return;
      }
      this.at++;
      if (!this.string()) return;
      const member = new Member();
      member.key = this.scalar;
      if (!this.expect(0x3A, "':' after \"" + member.key + "\"")) return;
      member.kind = this.value(1, member);
      member.text = member.kind == JsonKind.Array || member.kind == JsonKind.Object ? "" : this.scalar;
      if (this.error != "") return;
      into.members.push(member);
      this.blank();
      const c = this.peek();
      this.at++;
      if (c == 0x7D) return;
      if (c != 0x2C) {
        this.at--;
        this.fail("expected ',' or '}'");
      }
    }
  }

  // One value of any kind; the elements of an array are kept in `items` when given.
  value(depth: i32, items: Member | null): JsonKind {
    if (depth > MAX_DEPTH) {
      this.fail("nesting deeper than " + MAX_DEPTH.toString() + " levels");
      return JsonKind.Null;
    }
    this.blank();
    const c = this.peek();
    if (c == 0x22) {
      this.at++;
      this.string();
      return JsonKind.String;
    }
    if (c == 0x2D || isDigit(c)) {
      this.number();
      return JsonKind.Number;
    }
    if (c == 0x7B) {
      this.skipObject(depth);
      return JsonKind.Object;
    }
    if (c == 0x5B) {
      this.array(depth, items);
      return JsonKind.Array;
    }
    if (this.literal("true") || this.literal("false")) return JsonKind.Bool;
    if (this.literal("null")) return JsonKind.Null;
    this.fail(c < 0 ? "unexpected end of text" : "expected a value");
    return JsonKind.Null;
  }

  literal(word: string): bool {
    if (this.text.substr(this.at, word.length) != word) return false;
    this.at += word.length;
    this.scalar = word;
    return true;
  }

  array(depth: i32, items: Member | null): void {
    this.at++;
    this.blank();
    if (this.peek() == 0x5D) {
      this.at++;
      return;
    }
    while (this.error == "") {
      const kind = this.value(depth + 1, null);
      if (this.error != "") return;
      if (items != null) {
        items.itemKinds.push(kind);
        items.itemTexts.push(kind == JsonKind.Array || kind == JsonKind.Object ? "" : this.scalar);
      }
      this.blank();
      const c = this.peek();
      this.at++;
      if (c == 0x5D) return;
      if (c != 0x2C) {
        this.at--;
        this.fail("expected ',' or ']'");
      }
    }
  }

  skipObject(depth: i32): void {
    this.at++;
    this.blank();
    if (this.peek() == 0x7D) {
      this.at++;
      return;
    }
    while (this.error == "") {
      this.blank();
      if (this.peek() != 0x22) {
        this.fail("expected a member name in double quotes");
        return;
      }
      this.at++;
      if (!this.string()) return;
      if (!this.expect(0x3A, "':'")) return;
      this.value(depth + 1, null);
      if (this.error != "") return;
      this.blank();
      const c = this.peek();
      this.at++;
      if (c == 0x7D) return;
      if (c != 0x2C) {
        this.at--;
        this.fail("expected ',' or '}'");
      }
    }
  }

  // The rest of a string after its opening quote, decoded into `scalar`.
  string(): bool {
    let decoded = "";
    let start = this.at;
    while (true) {
      if (this.at >= this.text.length) {
        this.fail("unterminated string");
        return false;
      }
      const c = this.text.charCodeAt(this.at);
      if (c == 0x22) {
        this.scalar = decoded + this.text.substring(start, this.at);
        this.at++;
        return true;
      }
      if (c < 0x20) {
        this.fail("control character in a string (escape it)");
        return false;
      }
      if (c != 0x5C) {
        this.at++;
        continue;
      }
      decoded += this.text.substring(start, this.at);
      this.at++;
      const e = this.peek();
      this.at++;
      if (e == 0x22) decoded += "\"";
      else if (e == 0x5C) decoded += "\\";
      else if (e == 0x2F) decoded += "/";
      else if (e == 0x62) decoded += "\b";
      else if (e == 0x66) decoded += "\f";
      else if (e == 0x6E) decoded += "\n";
      else if (e == 0x72) decoded += "\r";
      else if (e == 0x74) decoded += "\t";
      else if (e == 0x75) {
        // \uXXXX is one UTF-16 code unit, which is what an AssemblyScript string holds: a surrogate
        // pair written as two escapes joins up by itself.
        let unit = 0;
        for (let k = 0; k < 4; k++) {
          const h = hexValue(this.peek());
          if (h < 0) {
            this.fail("expected 4 hex digits after \\u");
            return false;
          }
          unit = unit * 16 + h;
          this.at++;
        }
        decoded += String.fromCharCode(unit);
      } else {
        this.at--;
        this.fail("invalid escape in a string");
        return false;
      }
      start = this.at;
    }
    return false;
  }

  // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? into `scalar`.
  number(): void {
    const start = this.at;
    if (this.peek() == 0x2D) this.at++;
    if (this.peek() == 0x30) {
      this.at++;
    } else if (!this.digits()) {
      return;
    }
    if (this.peek() == 0x2E) {
      this.at++;
      if (!this.digits()) return;
    }
    const e = this.peek();
    if (e == 0x65 || e == 0x45) {
      this.at++;
      const sign = this.peek();
      if (sign == 0x2B || sign == 0x2D) this.at++;
      if (!this.digits()) return;
    }
    this.scalar = this.text.substring(start, this.at);
  }

  digits(): bool {
    if (!isDigit(this.peek())) {
      this.fail("expected a digit");
      return false;
    }
    while (isDigit(this.peek())) this.at++;
    return true;
  }
}
