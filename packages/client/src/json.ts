/**
 * Exact JSON for 64-bit values. The server writes values as JSON integers,
 * also above 2^53, where `JSON.parse` would round them (9007199254740993
 * becomes ...992). This parser reads every integer straight from the text
 * into a bigint; other numbers (with a fraction or an exponent) stay numbers.
 * (A reviver's `context.source` would do it, but only from Node 21 on.)
 */

export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

const INTEGER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const STRING_END = /["\\]/g;

class Parser {
  at = 0;
  constructor(readonly text: string) {}

  fail(what: string): never {
    throw new SyntaxError(`Invalid JSON at position ${this.at}: ${what}`);
  }

  space(): void {
    const text = this.text;
    let at = this.at;
    for (;;) {
      const c = text.charCodeAt(at);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) at += 1;
      else break;
    }
    this.at = at;
  }

  value(): JsonValue {
    this.space();
    const c = this.text[this.at];
    switch (c) {
      case '{':
        return this.object();
      case '[':
        return this.array();
      case '"':
        return this.string();
      case 't':
        return this.word('true', true);
      case 'f':
        return this.word('false', false);
      case 'n':
        return this.word('null', null);
      default:
        return this.number();
    }
  }

  word<T extends JsonValue>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.at)) this.fail(`expected ${word}`);
    this.at += word.length;
    return value;
  }

  number(): number | bigint {
    INTEGER.lastIndex = this.at;
    const match = INTEGER.exec(this.text);
    if (match === null) this.fail('expected a value');
    this.at = INTEGER.lastIndex;
    // An integer is read exactly; a fraction or an exponent is not a 64-bit value.
    return match[1] === undefined && match[2] === undefined ? BigInt(match[0]) : Number(match[0]);
  }

  string(): string {
    const text = this.text;
    const start = this.at + 1;
    STRING_END.lastIndex = start;
    let end = start;
    let escaped = false;
    for (;;) {
      const match = STRING_END.exec(text);
      if (match === null) this.fail('unterminated string');
      end = match.index;
      if (match[0] === '"') break;
      escaped = true;
      STRING_END.lastIndex = end + 2; // skip the escaped character
    }
    this.at = end + 1;
    const raw = text.slice(start, end);
    // Plain strings are sliced; escapes are decoded by JSON.parse (a string is never a number).
    return escaped ? (JSON.parse(`"${raw}"`) as string) : raw;
  }

  array(): JsonValue[] {
    this.at += 1;
    const items: JsonValue[] = [];
    this.space();
    if (this.text[this.at] === ']') {
      this.at += 1;
      return items;
    }
    for (;;) {
      items.push(this.value());
      this.space();
      const c = this.text[this.at++];
      if (c === ']') return items;
      if (c !== ',') this.fail('expected , or ]');
    }
  }

  object(): { [key: string]: JsonValue } {
    this.at += 1;
    const object: { [key: string]: JsonValue } = {};
    this.space();
    if (this.text[this.at] === '}') {
      this.at += 1;
      return object;
    }
    for (;;) {
      this.space();
      if (this.text[this.at] !== '"') this.fail('expected a key');
      const key = this.string();
      this.space();
      if (this.text[this.at++] !== ':') this.fail('expected :');
      // defineProperty: a key "__proto__" is data, never the object's prototype.
      Object.defineProperty(object, key, { value: this.value(), enumerable: true, writable: true, configurable: true });
      this.space();
      const c = this.text[this.at++];
      if (c === '}') return object;
      if (c !== ',') this.fail('expected , or }');
    }
  }
}

/** Parses JSON text; every integer becomes a bigint, read exactly. Throws SyntaxError on invalid JSON. */
export function parseJson(text: string): JsonValue {
  const parser = new Parser(text);
  const value = parser.value();
  parser.space();
  if (parser.at !== text.length) parser.fail('unexpected text after the value');
  return value;
}

/** Writes JSON with bigints as exact integers; undefined members are left out (as JSON.stringify does). */
export function stringifyJson(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : stringifyJson(item))).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const members = Object.entries(value)
      .filter(([, member]) => member !== undefined)
      .map(([key, member]) => `${JSON.stringify(key)}:${stringifyJson(member)}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A 64-bit option as a bigint: a bigint, a safe integer number, or a string of decimal digits. */
export function toInt64(value: bigint | number | string, name: string): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) return BigInt(value);
    throw new TypeError(`${name} must be an integer (a number beyond 2^53 is not exact: pass a bigint or a string), got ${value}`);
  }
  if (/^-?\d+$/.test(value)) return BigInt(value);
  throw new TypeError(`${name} must be a decimal integer, got ${JSON.stringify(value)}`);
}
