import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseJson, stringifyJson } from '../packages/client/src/index.js';

/** The SDK's exact JSON: integers as bigints read from the text, everything else as JSON.parse reads it. */

describe('client JSON', () => {
  test('integers are exact bigints, at both ends of the 64-bit range and beyond 2^53', () => {
    assert.deepEqual(parseJson('{"next_value":9007199254740993,"min":-9223372036854775808,"max":9223372036854775807,"zero":0}'), {
      next_value: 9007199254740993n,
      min: -9223372036854775808n,
      max: 9223372036854775807n,
      zero: 0n,
    });
  });

  test('fractions and exponents stay numbers; strings, escapes, literals, arrays and nesting as JSON.parse', () => {
    const text = ' { "a" : [1.5, -2e3, true, false, null, "x\\"y\\\\z\\u00e9\\n"], "b": {"c": []}, "d": {} , "e": "plain" } ';
    assert.deepEqual(parseJson(text), { a: [1.5, -2000, true, false, null, 'x"y\\z\u00e9\n'], b: { c: [] }, d: {}, e: 'plain' });
  });

  test('"__proto__" is a key like any other, never the prototype', () => {
    const parsed = parseJson('{"__proto__":{"polluted":1}}') as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(parsed), Object.prototype);
    assert.deepEqual(Object.keys(parsed), ['__proto__']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('invalid JSON is a SyntaxError', () => {
    for (const text of ['', '{', '{"a":1,}', '[1 2]', '01', '"open', 'tru', '{"a":1} x', '{a:1}', '-']) {
      assert.throws(() => parseJson(text), SyntaxError, text);
    }
  });

  test('any JSON value reads as JSON.parse reads it, with integers as bigints (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        const expected = JSON.parse(text, (_key, v: unknown) => (typeof v === 'number' && Number.isInteger(v) && /^-?\d+$/.test(String(v)) ? BigInt(String(v)) : v)) as unknown;
        assert.deepEqual(parseJson(text), expected);
      }),
    );
  });

  test('stringifyJson writes bigints exactly and leaves undefined members out', () => {
    assert.equal(stringifyJson({ next_value: 9223372036854775807n, force: true, skip: undefined, list: [1n, 'a'] }), '{"next_value":9223372036854775807,"force":true,"list":[1,"a"]}');
  });
});
