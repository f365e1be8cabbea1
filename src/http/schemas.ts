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
      field: Type.Optional(Type.String({ description: 'The input field at fault (invalid_options).' })),
    }),
  },
  { $id: 'ErrorResponse' },
);

export const SequenceParams = Type.Object({
  name: Type.String({ description: 'The sequence name, percent-encoded: 1 to 255 bytes of UTF-8, no control characters.' }),
});
export type SequenceParams = Static<typeof SequenceParams>;

/** What answers of sequences with periods or a format add (core/periodic.ts), after their other fields. */
const LABELS = {
  period: Type.Optional(
    Type.String({ description: 'Sequences with restart other than never: the calendar period of the value (2026, 2026-11 or 2026-11-30).' }),
  ),
  formatted: Type.Optional(Type.String({ description: 'Sequences with a format: the value formatted (a batch: its first value).' })),
};

export const NextResponse = Type.Object({
  sequence_id: Type.String(),
  next_value: Int64,
  last_value: Type.Optional(Int64),
  count: Type.Optional(Int64),
  reservation: Type.Optional(
    Type.String({ description: 'Gapless sequences: the reservation id, the capability to confirm, release or void the value.' }),
  ),
  expires_at: Type.Optional(Type.String({ format: 'date-time', description: 'Gapless sequences: when the lease ends (UTC, milliseconds).' })),
  ...LABELS,
  last_formatted: Type.Optional(Type.String({ description: 'Sequences with a format, batches (count given): the last value formatted.' })),
});
export type NextResponse = Static<typeof NextResponse>;

export const StatusResponse = Type.Object({ status: Type.String() });
export type StatusResponse = Static<typeof StatusResponse>;

/** Response schemas every route shares for its errors. */
const ErrorResponseRef = Type.Unsafe<Static<typeof ErrorResponse>>(Type.Ref('ErrorResponse'));
export const errorResponses = { '4xx': ErrorResponseRef, '5xx': ErrorResponseRef } as const;

/** OpenAPI security of the API routes: a bearer token, once any token exists. */
export const BEARER = [{ bearerAuth: [] }];

const NullableInt64 = Type.Unsafe<bigint | null>({ type: 'integer', format: 'int64', nullable: true });

/** A 64-bit option in a request: a JSON integer or a string of decimal digits. */
const Int64Input = Type.Unsafe<bigint | string>({
  anyOf: [
    { type: 'integer', format: 'int64' },
    { type: 'string', pattern: '^-?[0-9]+$' },
  ],
});

export const SequenceView = Type.Object(
  {
    name: Type.String(),
    last_value: NullableInt64,
    next_value: NullableInt64,
    start: Int64,
    increment: Int64,
    min_value: Int64,
    max_value: Int64,
    cycle: Type.Boolean(),
    cache: Int64,
    gapless: Type.Boolean(),
    lease_seconds: Type.Integer(),
    restart: Type.String({ enum: ['never', 'yearly', 'monthly', 'daily'] }),
    time_zone: Type.String({ description: 'The IANA time zone whose local midnight begins a period and whose dates a format shows.' }),
    format: Type.Unsafe<string | null>({ type: 'string', nullable: true, description: 'The template of formatted numbers, or null.' }),
    period: Type.Unsafe<string | null>({
      type: 'string',
      nullable: true,
      description: 'The current calendar period (the one the last allocation recorded); null before any allocation with periods.',
    }),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
    // Optional fields are written after the others (fast-json-stringify): here, in this order.
    confirmed_through: Type.Optional(
      Type.Unsafe<bigint | null>({
        type: 'integer',
        format: 'int64',
        nullable: true,
        description: 'Gapless only: the highest value up to which every value of the series is confirmed or void; null before any.',
      }),
    ),
    reserved: Type.Optional(Type.Integer({ description: 'Gapless only: values held by unexpired reservations.' })),
    free: Type.Optional(Type.Integer({ description: 'Gapless only: values released or whose reservation expired, handed out again first.' })),
  },
  { $id: 'Sequence' },
);
export type SequenceView = Static<typeof SequenceView>;
export const SequenceViewRef = Type.Unsafe<SequenceView>(Type.Ref('Sequence'));

export const SequenceOptionsInput = Type.Object(
  {
    start: Type.Optional(Int64Input),
    increment: Type.Optional(Int64Input),
    min_value: Type.Optional(Int64Input),
    max_value: Type.Optional(Int64Input),
    cycle: Type.Optional(Type.Boolean()),
    cache: Type.Optional(Int64Input),
    gapless: Type.Optional(Type.Boolean()),
    lease_seconds: Type.Optional(Type.Unsafe<bigint | string>({ anyOf: [{ type: 'integer', minimum: 1, maximum: 86_400 }, { type: 'string', pattern: '^[0-9]+$' }] })),
    restart: Type.Optional(Type.String({ enum: ['never', 'yearly', 'monthly', 'daily'], description: 'Calendar periods: the counter starts again at start each period.' })),
    time_zone: Type.Optional(Type.String({ description: 'An IANA time zone name (default UTC).' })),
    format: Type.Optional(
      Type.Unsafe<string | null>({
        type: 'string',
        nullable: true,
        maxLength: 200,
        description: 'A template: {value}, {value:N}, {yyyy}, {yy}, {mm}, {dd}, {{ and }}; null for none.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const ResetInput = Type.Object(
  { next_value: Int64Input, force: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);

export const ListQuery = Type.Object({
  prefix: Type.Optional(Type.String({ description: 'Only names starting with this.' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  cursor: Type.Optional(Type.String({ description: 'next_cursor of the previous page.' })),
});
export type ListQuery = Static<typeof ListQuery>;

export const ListResponse = Type.Object({
  sequences: Type.Array(SequenceViewRef),
  next_cursor: Type.Unsafe<string | null>({ type: 'string', nullable: true }),
});
export type ListResponse = Static<typeof ListResponse>;

export const DeleteQuery = Type.Object({
  forget: Type.Optional(
    Type.Boolean({
      description:
        'Forget the sequence entirely, its high-water marks too: the name, used again, starts afresh and hands out the same numbers again.',
    }),
  ),
});
export type DeleteQuery = Static<typeof DeleteQuery>;

export const NextQuery = Type.Object({
  count: Type.Optional(Type.Integer({ minimum: 1, description: 'Take this many consecutive values (a batch).' })),
});
export type NextQuery = Static<typeof NextQuery>;

export const ReservationParams = Type.Object({
  name: SequenceParams.properties.name,
  id: Type.String({ description: 'The reservation id that /next answered.' }),
});
export type ReservationParams = Static<typeof ReservationParams>;

export const VoidInput = Type.Object(
  { reason: Type.Optional(Type.Unsafe<string | null>({ type: 'string', maxLength: 500, nullable: true, description: 'Why it was voided (at most 500 characters).' })) },
  { additionalProperties: false },
);

export const SettledResponse = Type.Object({
  sequence_id: Type.String(),
  value: Int64,
  state: Type.String({ enum: ['confirmed', 'free', 'void'] }),
  reason: Type.Optional(Type.Unsafe<string | null>({ type: 'string', nullable: true, description: 'Void only: the reason given, or null.' })),
  ...LABELS,
});
export type SettledResponse = Static<typeof SettledResponse>;

export const ValuesQuery = Type.Object({
  state: Type.Optional(Type.String({ enum: ['reserved', 'free', 'void'], description: 'Only values in this state (default: all three).' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  cursor: Type.Optional(Type.String({ description: 'next_cursor of the previous page.' })),
});
export type ValuesQuery = Static<typeof ValuesQuery>;

export const ValueEntry = Type.Object({
  value: Int64,
  state: Type.String({ enum: ['reserved', 'free', 'void'] }),
  updated_at: Type.String({ format: 'date-time' }),
  expires_at: Type.Optional(Type.String({ format: 'date-time', description: 'Reserved only: when the lease ends.' })),
  reason: Type.Optional(Type.Unsafe<string | null>({ type: 'string', nullable: true, description: 'Void only: the reason given, or null.' })),
  period: Type.Optional(Type.String({ description: 'Sequences with periods: the period the value was first handed out in.' })),
  formatted: Type.Optional(Type.String({ description: 'Sequences with a format: the value formatted when it was first handed out.' })),
});
export type ValueEntry = Static<typeof ValueEntry>;

export const ValuesResponse = Type.Object({
  values: Type.Array(ValueEntry),
  next_cursor: Type.Unsafe<string | null>({ type: 'string', nullable: true }),
});
export type ValuesResponse = Static<typeof ValuesResponse>;
