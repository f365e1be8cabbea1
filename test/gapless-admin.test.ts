import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testApp } from './helpers/app.js';
import { assertError, body, gapless, put, reserve, settle } from './helpers/gapless.js';

/** Option changes of a gapless sequence that would break its series are refused while values are open. */
describe('changing a gapless sequence', () => {
  it('refuses a new increment while values are reserved or free, and allows it once every value is settled', async () => {
    const t = await testApp();
    await gapless(t.app, 'steps');
    const first = await reserve(t.app, 'steps');
    const second = await reserve(t.app, 'steps');
    assertError(await put(t.app, 'steps', { increment: 2 }), 409, 'options_conflict');
    assert.equal((await settle(t.app, 'steps', first.id, 'confirm')).statusCode, 200);
    assert.equal((await settle(t.app, 'steps', second.id, 'release')).statusCode, 200);
    // A free value is still open: it would lie off the new step.
    assertError(await put(t.app, 'steps', { increment: 2 }), 409, 'options_conflict');
    const again = await reserve(t.app, 'steps');
    assert.equal(again.value, 2n);
    assert.equal((await settle(t.app, 'steps', again.id, 'void', { reason: 'torn' })).statusCode, 200);
    const changed = await put(t.app, 'steps', { increment: 2 });
    assert.equal(changed.statusCode, 200, changed.body);
    assert.equal(body(changed).increment, 2n);
    assert.equal((await reserve(t.app, 'steps')).value, 4n);
    // Changing the lease is always allowed: it applies to the next reservations.
    assert.equal((await put(t.app, 'steps', { lease_seconds: 30 })).statusCode, 200);
    await t.close();
  });
});
