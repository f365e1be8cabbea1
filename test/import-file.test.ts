import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ImportFileError, parseImportFile, parseSequencesFile } from '../src/commands/import.js';

describe('reading a Python TakeANumber sequences.json', () => {
  it('reads names and last values exactly, beyond 2^53', () => {
    const entries = parseSequencesFile(
      '\uFEFF{"orders": 41, "test@sequence": 0, "b\\u00fccher": 9007199254740993, "max": 9223372036854775807}',
      'sequences.json',
    );
    assert.deepEqual(
      [...entries],
      [
        ['orders', 41n],
        ['test@sequence', 0n],
        ['bücher', 9007199254740993n],
        ['max', 9223372036854775807n],
      ],
    );
    assert.equal(parseSequencesFile('{}', 'f').size, 0);
  });

  it('refuses anything but an object of valid names to integers, naming every problem', () => {
    const cases: [string, RegExp][] = [
      ['{"a": 1', /not valid JSON/],
      ['', /not valid JSON/],
      ['[1, 2]', /must hold a JSON object/],
      ['null', /must hold a JSON object/],
      ['{"a": 1.5}', /"a": the value must be an integer, got 1.5/],
      ['{"a": 1e3}', /"a": the value must be an integer/],
      ['{"a": "5"}', /"a": the value must be an integer, got "5"/],
      ['{"a": null}', /"a": the value must be an integer/],
      ['{"a": -1}', /"a": the value -1 is outside/],
      ['{"a": 9223372036854775808}', /outside 0\.\.9223372036854775807/],
      ['{"": 1}', /"": the sequence name is empty/],
      [`{"${'x'.repeat(256)}": 1}`, /256 bytes/],
      ['{"a\\u0000b": 1}', /control character/],
      ['{"\\ud800": 1}', /not valid Unicode/],
      ['{"a": 1, "a": 2}', /not valid JSON: Duplicate key/],
    ];
    for (const [text, expected] of cases) {
      assert.throws(() => parseSequencesFile(text, 'seq.json'), (error: unknown) => {
        assert.ok(error instanceof ImportFileError, text);
        assert.match(error.message, expected, text);
        assert.match(error.message, /seq\.json/, text);
        return true;
      });
    }
  });

  it('lists several problems at once', () => {
    assert.throws(() => parseSequencesFile('{"a": 1.5, "b": -2, "c": 3}', 'f.json'), (error: unknown) => {
      assert.ok(error instanceof ImportFileError);
      assert.match(error.message, /nothing was changed/);
      assert.match(error.message, /"a"/);
      assert.match(error.message, /"b"/);
      assert.doesNotMatch(error.message, /"c"/);
      return true;
    });
  });
});

describe('reading the full format (export --format full)', () => {
  const entry = (fields: string): string =>
    `{"name": "s", "last_value": 5, "is_called": true, "start": 1, "increment": 1, "min_value": 1, "max_value": 100, "cycle": false, "cache": 1${fields}}`;
  const v2 = (sequences: string, deleted = ''): string =>
    `{"format": "takeanumber-full", "version": 2, "sequences": [${sequences}], "deleted": [${deleted}]}`;

  it('reads version 2 with high-water marks and deleted names, and version 1 with the marks its positions prove', () => {
    const full = parseImportFile(v2(entry(', "issued_low": 1, "issued_high": 5'), '{"name": "gone", "issued_low": 3, "issued_high": 9}'), 'f');
    assert.ok(full.format === 'full');
    assert.deepEqual([full.sequences[0]?.issued, full.deleted], [{ low: 1n, high: 5n }, [{ name: 'gone', issued: { low: 3n, high: 9n } }]]);
    const old = parseImportFile(`{"format": "takeanumber-full", "version": 1, "sequences": [${entry('')}]}`, 'f');
    assert.ok(old.format === 'full');
    assert.deepEqual([old.sequences[0]?.issued, old.deleted], [{ low: 1n, high: 5n }, []]);
  });

  it('refuses marks that are missing, reversed, or that the entry would hand out again', () => {
    const cases: [string, RegExp][] = [
      [v2(entry('')), /issued_low and issued_high must both be null or both 64-bit integers/],
      [v2(entry(', "issued_low": 9, "issued_high": 2')), /issued_low 9 lies above issued_high 2/],
      [v2(entry(', "issued_low": 1, "issued_high": 50')), /its next value 6 lies within the values it handed out/],
      [v2(entry(', "issued_low": null, "issued_high": null'), '{"name": "s", "issued_low": null, "issued_high": null}'), /deleted\[0\] "s": appears twice/],
      [v2(entry(', "issued_low": null, "issued_high": null'), '{"name": "t", "issued_low": 1}'), /deleted\[0\] "t": issued_low and issued_high/],
      ['{"format": "takeanumber-full", "version": 2, "sequences": []}', /"deleted" must be an array/],
      ['{"format": "takeanumber-full", "version": 5, "sequences": [], "deleted": []}', /version must be 1, 2, 3 or 4, got "5"/],
    ];
    for (const [text, expected] of cases) {
      assert.throws(() => parseImportFile(text, 'full.json'), (error: unknown) => {
        assert.ok(error instanceof ImportFileError, text);
        assert.match(error.message, expected, text);
        return true;
      });
    }
  });

  it('refuses integers outside the signed 64-bit range, and takes its bounds', () => {
    const bounds = '"start": 1, "increment": 1, "min_value": -9223372036854775808, "max_value": 9223372036854775807, "cycle": false, "cache": 1';
    const at = (lastValue: string, marks: string): string =>
      v2(`{"name": "s", "last_value": ${lastValue}, "is_called": true, ${bounds}, ${marks}}`);
    const full = parseImportFile(at('9223372036854775807', '"issued_low": -9223372036854775808, "issued_high": 9223372036854775807'), 'f');
    assert.ok(full.format === 'full');
    assert.deepEqual(full.sequences[0]?.issued, { low: -(2n ** 63n), high: 2n ** 63n - 1n });
    const cases: [string, RegExp][] = [
      [at('9223372036854775808', '"issued_low": null, "issued_high": null'), /last_value must be a 64-bit integer/],
      [at('-9223372036854775809', '"issued_low": null, "issued_high": null'), /last_value must be a 64-bit integer/],
      [at('5', '"issued_low": 1, "issued_high": 9223372036854775808'), /issued_low and issued_high must both be null or both 64-bit integers/],
      [at('5', '"issued_low": -9223372036854775809, "issued_high": 5'), /issued_low and issued_high must both be null or both 64-bit integers/],
    ];
    for (const [text, expected] of cases) {
      assert.throws(() => parseImportFile(text, 'full.json'), (error: unknown) => {
        assert.ok(error instanceof ImportFileError, text);
        assert.match(error.message, expected, text);
        return true;
      });
    }
  });
});
