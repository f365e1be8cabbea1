import { createHash, randomBytes } from 'node:crypto';

/**
 * API tokens: what they look like, how they are hashed, what their scopes
 * allow. Free of I/O and of HTTP.
 */

export const SCOPES = ['next', 'read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** `admin` implies `read` and `next`. */
export function allows(scopes: readonly Scope[], needed: Scope): boolean {
  return scopes.includes(needed) || scopes.includes('admin');
}

const TOKEN_PREFIX = 'tan_';

/** A new token: `tan_` and 256 random bits in base64url (the prefix makes leaked tokens easy to scan for). */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/**
 * SHA-256, hex. A token carries 256 random bits, so a fast hash is as safe
 * as a slow one here, and lets each request be checked in a microsecond.
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export const TOKEN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const UNITS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `90s`, `30m`, `12h`, `30d`, `2w` in milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d{1,6})([smhdw])$/.exec(text.trim());
  if (match === null) return undefined;
  const ms = Number(match[1]) * (UNITS[match[2] as string] as number);
  return ms > 0 ? ms : undefined;
}
