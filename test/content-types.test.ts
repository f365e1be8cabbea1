/**
 * Request bodies by Content-Type: PUT /sequences/{name} and the reset take
 * JSON (application/json or a +json type) and refuse any other body with
 * 415 unsupported_media_type, changing nothing; an absent body (none, or
 * Content-Length: 0) is allowed. /next takes no body and ignores any it gets
 * (the Python service's clients post forms), but a body sent as JSON must be
 * valid JSON.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testApp } from './helpers/app.js';

interface Answer {
  readonly error?: { readonly code?: unknown; readonly message?: unknown };
  readonly cache?: unknown;
  readonly next_value?: unknown;
}
const parse = (body: string): Answer => JSON.parse(body) as Answer;
const errorCode = (body: string): unknown => parse(body).error?.code;

/** Bodies of other types, as clients send them: curl -d (a form), text, octets, and none named at all. */
const NOT_JSON: readonly { readonly what: string; readonly headers: Record<string, string>; readonly payload: string }[] = [
  { what: 'a form (curl -d)', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'next_value=100&cache=5' },
  { what: 'text/plain', headers: { 'content-type': 'text/plain' }, payload: '{"next_value": 100, "cache": 5}' },
  { what: 'octets', headers: { 'content-type': 'application/octet-stream' }, payload: '{"next_value": 100, "cache": 5}' },
  { what: 'no Content-Type', headers: {}, payload: '{"next_value": 100, "cache": 5}' },
];

describe('request bodies that are not JSON', () => {
  for (const { what, headers, payload } of NOT_JSON) {
    it(`PUT /sequences/{name} and reset answer 415 unsupported_media_type to ${what}, and change nothing`, async () => {
      const t = await testApp();
      try {
        const created = await t.app.inject({ method: 'PUT', url: '/sequences/new', headers, payload });
        assert.equal(created.statusCode, 415, created.body);
        assert.equal(errorCode(created.body), 'unsupported_media_type');
        assert.match(String(parse(created.body).error?.message), /application\/json/);
        assert.equal(await t.store.getSequence('new'), undefined, 'the sequence was not created with defaults');

        assert.equal((await t.app.inject({ method: 'POST', url: '/next/old' })).statusCode, 200);
        const changed = await t.app.inject({ method: 'PUT', url: '/sequences/old', headers, payload });
        assert.equal(changed.statusCode, 415, changed.body);
        const reset = await t.app.inject({ method: 'POST', url: '/sequences/old/reset', headers, payload });
        assert.equal(reset.statusCode, 415, reset.body);
        assert.equal(errorCode(reset.body), 'unsupported_media_type');
        const record = await t.store.getSequence('old');
        assert.ok(record !== undefined);
        assert.equal(record.options.cache, 1n, 'the options are unchanged');
        assert.equal(record.position.lastValue, 1n, 'the counter is unchanged');
      } finally {
        await t.close();
      }
    });
  }

  it('/next takes any body and ignores it (a form, text, none named); a body sent as JSON must be JSON', async () => {
    const t = await testApp();
    try {
      let expected = 1;
      for (const { what, headers, payload } of NOT_JSON) {
        const answer = await t.app.inject({ method: 'POST', url: '/next/forms', headers, payload });
        assert.equal(answer.statusCode, 200, `${what}: ${answer.body}`);
        assert.equal(answer.body, `{"sequence_id":"forms","next_value":${expected}}`);
        expected += 1;
      }
      const malformed = await t.app.inject({ method: 'POST', url: '/next/forms', headers: { 'content-type': 'application/json' }, payload: 'a=1' });
      assert.equal(malformed.statusCode, 400);
      assert.equal(errorCode(malformed.body), 'invalid_body');
    } finally {
      await t.close();
    }
  });

  it('takes JSON as application/json (any parameters) or a +json type, and an absent body of any type as no body', async () => {
    const t = await testApp();
    try {
      const json = [
        { type: 'application/json', name: 'plain' },
        { type: 'application/json; charset=utf-8', name: 'charset' },
        { type: 'Application/JSON', name: 'case' },
        { type: 'application/merge-patch+json', name: 'merge-patch' },
        { type: 'application/vnd.takeanumber+json; charset=utf-8', name: 'vendor' },
      ];
      for (const { type, name } of json) {
        const put = await t.app.inject({ method: 'PUT', url: `/sequences/${name}`, headers: { 'content-type': type }, payload: '{"cache": 5}' });
        assert.equal(put.statusCode, 201, `${type}: ${put.body}`);
        assert.equal(parse(put.body).cache, 5, type);
        const reset = await t.app.inject({ method: 'POST', url: `/sequences/${name}/reset`, headers: { 'content-type': type }, payload: '{"next_value": 7}' });
        assert.equal(reset.statusCode, 200, `${type}: ${reset.body}`);
        assert.equal(parse(reset.body).next_value, 7, type);
      }
      // No body at all, and Content-Length: 0 under any type: the defaults.
      for (const [name, headers] of [
        ['none', {}],
        ['empty-form', { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '0' }],
        ['empty-text', { 'content-type': 'text/plain', 'content-length': '0' }],
      ] as const) {
        const put = await t.app.inject({ method: 'PUT', url: `/sequences/${name}`, headers });
        assert.equal(put.statusCode, 201, `${name}: ${put.body}`);
        assert.equal(parse(put.body).cache, 1, name);
      }
    } finally {
      await t.close();
    }
  });
});
