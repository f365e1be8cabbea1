import assert from 'node:assert/strict';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { body, type Json } from './app.js';

/** Requests and checks the gapless tests share (test/gapless-*.test.ts). */

export { assertError, body, type Json } from './app.js';

export type Headers = Record<string, string>;

export function put(app: FastifyInstance, name: string, options: Json, headers: Headers = {}): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'PUT',
    url: `/sequences/${encodeURIComponent(name)}`,
    headers: { 'content-type': 'application/json', ...headers },
    payload: JSON.stringify(options),
  });
}

/** Creates a gapless sequence (201) with these extra options. */
export async function gapless(app: FastifyInstance, name: string, options: Json = {}, headers: Headers = {}): Promise<Json> {
  const response = await put(app, name, { gapless: true, ...options }, headers);
  assert.equal(response.statusCode, 201, response.body);
  return body(response);
}

export interface Reservation {
  readonly value: bigint;
  readonly id: string;
  readonly expiresAt: string;
}

/** Takes a value of a gapless sequence: its reservation. */
export async function reserve(app: FastifyInstance, name: string, headers: Headers = {}): Promise<Reservation> {
  const response = await app.inject({ method: 'POST', url: `/next/${encodeURIComponent(name)}`, headers });
  assert.equal(response.statusCode, 200, response.body);
  const answer = body(response);
  assert.deepEqual(Object.keys(answer), ['sequence_id', 'next_value', 'reservation', 'expires_at'], response.body);
  return { value: answer.next_value as bigint, id: answer.reservation as string, expiresAt: answer.expires_at as string };
}

export type Action = 'confirm' | 'release' | 'void';

/** POSTs a confirm, release or void; a void's payload is sent as JSON unless a content-type header says otherwise. */
export function settle(
  app: FastifyInstance,
  name: string,
  id: string,
  action: Action,
  payload?: string | Json,
  headers: Headers = {},
): Promise<LightMyRequestResponse> {
  const sent = payload === undefined ? {} : { payload: typeof payload === 'string' ? payload : JSON.stringify(payload) };
  const type = payload === undefined ? {} : { 'content-type': 'application/json' };
  return app.inject({
    method: 'POST',
    url: `/sequences/${encodeURIComponent(name)}/reservations/${id}/${action}`,
    headers: { ...type, ...headers },
    ...sent,
  });
}

/** GETs the sequence and returns its body. */
export async function view(app: FastifyInstance, name: string, headers: Headers = {}): Promise<Json> {
  const response = await app.inject({ method: 'GET', url: `/sequences/${encodeURIComponent(name)}`, headers });
  assert.equal(response.statusCode, 200, response.body);
  return body(response);
}

/** The gapless summary of GET /sequences/{name}. */
export async function summary(app: FastifyInstance, name: string, headers: Headers = {}): Promise<Json> {
  const { confirmed_through, reserved, free } = await view(app, name, headers);
  return { confirmed_through, reserved, free };
}

/** GET /sequences/{name}/values with this query string. */
export function values(app: FastifyInstance, name: string, query = '', headers: Headers = {}): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'GET', url: `/sequences/${encodeURIComponent(name)}/values${query}`, headers });
}

/** Waits until the store's clock is surely past `expiresAt` (ISO 8601): the lease plus a generous second and a half. */
export async function pastLease(expiresAt: string): Promise<void> {
  const wait = Date.parse(expiresAt) - Date.now() + 1500;
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}
