import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ImportFileError, parseSequencesFile } from '../src/commands/import.js';

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
