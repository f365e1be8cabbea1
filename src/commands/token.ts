import { userInfo } from 'node:os';
import type { Writable } from 'node:stream';
import { generateToken, hashToken, parseDuration, SCOPES, TOKEN_NAME_PATTERN, type Scope } from '../tokens/tokens.js';
import { ConfigError, resolveStore } from '../config.js';
import { checkSequenceName } from '../core/sequence-name.js';
import { helpOption } from '../help.js';
import { settingHelp } from '../settings.js';
import { describeLocation, openTokenStore, type StoreLocation } from '../store/open-store.js';
import type { TokenStore } from '../tokens/token-store.js';
import { formatTable } from './table.js';
import { command, DEFAULT_POOL, expectArguments, HELP_LINE, STORE_OPTION, UsageError, type CommandContext } from './command.js';

export interface CreateTokenOptions {
  readonly name: string | undefined;
  readonly scopes: readonly string[];
  readonly expiresIn: string | undefined;
  readonly prefix: string | undefined;
}

/** Opens the store's tokens for `work`, and closes them whatever happens. */
async function withTokens<T>(location: StoreLocation, work: (tokens: TokenStore) => Promise<T>): Promise<T> {
  const store = await openTokenStore(location, DEFAULT_POOL);
  try {
    return await work(store.tokens);
  } finally {
    await store.close();
  }
}

/** An audit line for a token change, on stderr (stdout carries the token itself). */
function audit(stderr: Writable, action: string, fields: Record<string, unknown>): void {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No user name in this environment (a container without /etc/passwd entry): keep 'unknown'.
  }
  stderr.write(`${JSON.stringify({ time: new Date().toISOString(), audit: action, ...fields, by: `cli:${user}` })}\n`);
}

/** `token create`: stores the hash of a new token and prints the token once, on the last line of stdout. */
export async function createToken(location: StoreLocation, options: CreateTokenOptions, { stdout, stderr }: CommandContext): Promise<void> {
  const { name } = options;
  if (name === undefined || !TOKEN_NAME_PATTERN.test(name)) {
    throw new ConfigError('--name: expected 1 to 64 letters, digits, dots, dashes or underscores, starting with a letter or digit.');
  }
  if (options.scopes.length === 0) throw new ConfigError(`--scope: give at least one of ${SCOPES.join(', ')}.`);
  for (const scope of options.scopes) {
    if (!(SCOPES as readonly string[]).includes(scope)) throw new ConfigError(`--scope: expected one of ${SCOPES.join(', ')}, got '${scope}'.`);
  }
  const scopes = [...new Set(options.scopes as Scope[])];
  let expiresAt: number | undefined;
  const now = Date.now();
  if (options.expiresIn !== undefined) {
    const ms = parseDuration(options.expiresIn);
    if (ms === undefined) throw new ConfigError(`--expires-in: expected a duration such as 90m, 12h, 30d or 2w, got '${options.expiresIn}'.`);
    expiresAt = now + ms;
  }
  if (options.prefix !== undefined) {
    try {
      checkSequenceName(options.prefix);
    } catch {
      throw new ConfigError('--prefix: expected the start of a sequence name (1 to 255 bytes of UTF-8 without control characters).');
    }
  }
  const token = generateToken();
  await withTokens(location, (tokens) =>
    tokens.createToken({ name, hash: hashToken(token), scopes, prefix: options.prefix, createdAt: now, expiresAt }),
  );
  audit(stderr, 'token.create', { token: name, scopes, prefix: options.prefix ?? null, expires_at: expiresAt === undefined ? null : new Date(expiresAt).toISOString() });
  stdout.write(
    `Created the token '${name}' (scopes: ${scopes.join(', ')}${options.prefix === undefined ? '' : `; names starting with '${options.prefix}'`}` +
      `${expiresAt === undefined ? '' : `; expires ${new Date(expiresAt).toISOString()}`}) in ${describeLocation(location)}.\n` +
      'It is shown only this once (the store keeps a hash): copy it now. Send it as Authorization: Bearer <token>.\n' +
      `${token}\n`,
  );
}

const when = (ms: number | undefined): string => (ms === undefined ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));

/** `token list`: a table of names, scopes, prefix, created, expires, last used (never the tokens). */
export async function listTokens(location: StoreLocation, { stdout }: CommandContext): Promise<void> {
  const tokens = await withTokens(location, (store) => store.listTokens());
  if (tokens.length === 0) {
    stdout.write(`No API tokens in ${describeLocation(location)}: every endpoint is open.\n`);
    return;
  }
  const now = Date.now();
  const rows = [
    ['NAME', 'SCOPES', 'PREFIX', 'CREATED', 'EXPIRES', 'LAST USED'],
    ...tokens.map((t) => [
      t.name,
      t.scopes.join(','),
      t.prefix ?? '-',
      when(t.createdAt),
      t.expiresAt !== undefined && t.expiresAt <= now ? `${when(t.expiresAt)} (expired)` : when(t.expiresAt),
      when(t.lastUsedAt),
    ]),
  ];
  stdout.write(formatTable(rows));
}

/** `token revoke NAME`: deletes the token; servers stop accepting it within a couple of seconds. */
export async function revokeToken(location: StoreLocation, name: string, { stdout, stderr }: CommandContext): Promise<void> {
  const { revoked, left } = await withTokens(location, async (tokens) => ({
    revoked: await tokens.revokeToken(name),
    left: (await tokens.listTokens()).length,
  }));
  if (!revoked) throw new ConfigError(`No token named '${name}' in ${describeLocation(location)}.`);
  audit(stderr, 'token.revoke', { token: name });
  stdout.write(`Revoked the token '${name}'; servers refuse it within a few seconds.\n`);
  if (left === 0) {
    stderr.write(
      'take-a-number: No token is left: servers on this store now serve every endpoint without a token. ' +
        'Create a token to close them again (create the new one before revoking the last, to stay closed).\n',
    );
  }
}

export const tokenCommand = command({
  name: 'token',
  summary: { synopsis: 'token create|list|revoke', text: 'Manage API tokens (once one exists, the API needs a token)' },
  usage: `Usage: take-a-number token create --name NAME --scope SCOPE [--scope …]
                                  [--expires-in DURATION] [--prefix PREFIX] [--store STORE]
       take-a-number token list [--store STORE]
       take-a-number token revoke NAME [--store STORE]

API tokens. While a store holds no token, every endpoint is open; once one
exists, every endpoint but /healthz, /readyz, /openapi.json and /docs needs
Authorization: Bearer <token>. Works while servers run on the store: they see
a new or revoked token within a few seconds. The store keeps only a SHA-256
hash of each token.

${helpOption('create', `Prints the new token once, on the last line of stdout;
an audit line goes to stderr. Creates the store if missing.`)}
${helpOption('list', 'Names, scopes, prefixes, creation, expiry and last use')}
${helpOption('revoke NAME', 'Deletes the token')}

Options:
${helpOption('--name NAME', "1-64 letters, digits, '.', '_' or '-'")}
${helpOption('--scope SCOPE', `next (POST /next), read (GET /sequences…, /metrics) or admin
(everything: options, reset, delete; implies read and next).
Repeat for several.`)}
${helpOption('--expires-in DURATION', 'e.g. 90m, 12h, 30d, 2w (default: never)')}
${helpOption('--prefix PREFIX', 'Only sequences whose names start with PREFIX (multi-tenant use)')}
${settingHelp('store')}
${HELP_LINE}`,
  options: {
    ...STORE_OPTION,
    name: { type: 'string' },
    scope: { type: 'string', multiple: true },
    'expires-in': { type: 'string' },
    prefix: { type: 'string' },
  },
  // The action and its argument, checked by the action.
  positionals: { min: 0, max: Number.POSITIVE_INFINITY },
  async run({ values, positionals: [action, ...args] }, context) {
    const location = resolveStore(values.store, context.env);
    if (action === 'create') {
      expectArguments(args, 0, 0);
      await createToken(location, { name: values.name, scopes: values.scope ?? [], expiresIn: values['expires-in'], prefix: values.prefix }, context);
    } else if (action === 'list') {
      expectArguments(args, 0, 0);
      await listTokens(location, context);
    } else if (action === 'revoke') {
      expectArguments(args, 1, 1);
      await revokeToken(location, args[0] as string, context);
    } else {
      throw new UsageError(action === undefined ? 'Missing action: create, list or revoke.' : `Unknown action '${action}'.`);
    }
  },
});
