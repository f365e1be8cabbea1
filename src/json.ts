import { parse } from 'lossless-json';

const INTEGER_LITERAL = /^-?\d+$/;

/**
 * JSON.parse without rounding: integer literals become bigint (exact at any
 * size), other numbers (1.5, 1e3) stay numbers, so a check for bigint tells an
 * integer the client wrote from anything else. Throws SyntaxError on malformed
 * JSON and on duplicate keys.
 */
export function parseJsonLossless(text: string): unknown {
  return parse(text, null, (literal) => (INTEGER_LITERAL.test(literal) ? BigInt(literal) : Number(literal)));
}
