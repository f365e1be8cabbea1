import { Type, type Static } from '@sinclair/typebox';

/**
 * A signed 64-bit integer: a bigint in code, an exact JSON integer on the
 * wire (fast-json-stringify writes bigints digit for digit).
 */
export const Int64 = Type.Unsafe<bigint>({ type: 'integer', format: 'int64' });

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable, snake_case: match on this.' }),
      message: Type.String({ description: 'For a person; may change.' }),
    }),
  },
  { $id: 'ErrorResponse' },
);

export const SequenceParams = Type.Object({
  name: Type.String({ description: 'The sequence name, percent-encoded: 1 to 255 bytes of UTF-8, no control characters.' }),
});
export type SequenceParams = Static<typeof SequenceParams>;

export const NextResponse = Type.Object({
  sequence_id: Type.String(),
  next_value: Int64,
});
export type NextResponse = Static<typeof NextResponse>;

export const StatusResponse = Type.Object({ status: Type.String() });
export type StatusResponse = Static<typeof StatusResponse>;

/** Response schemas every route shares for its errors. */
const ErrorResponseRef = Type.Unsafe<Static<typeof ErrorResponse>>(Type.Ref('ErrorResponse'));
export const errorResponses = { '4xx': ErrorResponseRef, '5xx': ErrorResponseRef } as const;
