import type { GaplessImport } from './gapless.js';
import type { Period } from './period.js';
import {
  describeIssued,
  seedState,
  peekNext,
  positionAfter,
  reissues,
  unite,
  type IssuedRange,
  type SequenceState,
} from './sequence.js';

/**
 * What an import does to one name, decided from what the store holds and
 * what the file says, free of I/O: both stores apply these decisions. The
 * rule: an import never makes a sequence hand out a value it handed out
 * before (its high-water marks), nor one the file says was handed out.
 */

/** What a store holds under a name. */
export type Held =
  | { readonly kind: 'absent' }
  /** Deleted, with the values it had handed out (its tombstone). */
  | { readonly kind: 'deleted'; readonly issued: IssuedRange | undefined }
  | { readonly kind: 'live'; readonly state: SequenceState; readonly period?: Period | undefined };

/** What a store's row under a name is, for the import rules. */
export function heldOf(
  row: (SequenceState & { readonly deletedAt: number | undefined; readonly period?: Period | undefined }) | undefined,
): Held {
  if (row === undefined) return { kind: 'absent' };
  if (row.deletedAt !== undefined) return { kind: 'deleted', issued: row.issued };
  return { kind: 'live', state: { options: row.options, position: row.position, issued: row.issued }, period: row.period };
}

/** What an import file says of a name. */
export type Imported =
  /** A whole sequence (full format), or a seed value (options kept for held sequences). */
  | {
      readonly kind: 'sequence';
      readonly state: SequenceState;
      readonly seed: boolean;
      readonly gapless?: GaplessImport | undefined;
      /** The recorded calendar period (full format version 4). */
      readonly period?: Period | undefined;
    }
  /** A deleted name and the values it had handed out (full format). */
  | { readonly kind: 'deleted'; readonly issued: IssuedRange | undefined };

export type ImportDecision =
  /**
   * Write `state` as a live sequence: `created` (a new or deleted name),
   * `raised` (moved forward or replaced); with `gapless`, replace the name's
   * gapless values and reservation ids by these.
   */
  | {
      readonly kind: 'created' | 'raised';
      readonly state: SequenceState;
      readonly gapless?: GaplessImport | undefined;
      /** The period to record (set by planImport): the file's, or the held one's if it is later; never one that goes back. */
      readonly period?: Period | undefined;
    }
  /** The counter stays; only its high-water marks widen to what the file says was handed out. */
  | { readonly kind: 'widened'; readonly state: SequenceState }
  /** Keep (or make) the name a tombstone with these marks. */
  | { readonly kind: 'deleted'; readonly issued: IssuedRange | undefined }
  | { readonly kind: 'unchanged' }
  /** The entry cannot be applied without handing out a value again; `reason` says why. */
  | { readonly kind: 'conflict'; readonly reason: string };

const ascending = (state: SequenceState): boolean => state.options.increment > 0n;

/** Whether `a` stands strictly further along than `b` (same direction), exhausted counting as furthest. */
function furtherAlong(a: SequenceState, b: SequenceState): boolean {
  const aNext = peekNext(a.position, a.options);
  const bNext = peekNext(b.position, b.options);
  if (bNext === undefined) return false;
  if (aNext === undefined) return true;
  return ascending(a) ? aNext > bNext : aNext < bNext;
}

/** `state` moved past `issued` if it would hand one of them out; undefined if no value past them is left. */
function continuedPast(state: SequenceState, issued: IssuedRange | undefined): SequenceState | undefined {
  const position = positionAfter(issued, state.options, state.position);
  return position === undefined ? undefined : { ...state, position, issued: unite(state.issued, issued) };
}

function noRoom(issued: IssuedRange | undefined): ImportDecision {
  return {
    kind: 'conflict',
    reason:
      `this name handed out ${issued === undefined ? 'values' : describeIssued(issued)} before, and no value past them ` +
      'lies within the bounds the entry gives',
  };
}

export function importDecision(held: Held, imported: Imported): ImportDecision {
  const decision = plainDecision(held, imported);
  // A gapless series that has begun moves forward only by reserving: a raise would skip values that then
  // count as confirmed (or, by another entry's options, end the series with values still reserved or free).
  if (decision.kind === 'raised' && decision.gapless === undefined && held.kind === 'live' && held.state.options.gapless && held.state.issued !== undefined) {
    return {
      kind: 'conflict',
      reason:
        `the store's sequence is gapless and has handed out ${describeIssued(held.state.issued)}: the entry would move it on and leave ` +
        'a gap in its series; reset it with force first to start a new series',
    };
  }
  return decision;
}

function plainDecision(held: Held, imported: Imported): ImportDecision {
  if (imported.kind === 'deleted') {
    if (held.kind === 'absent') return { kind: 'deleted', issued: imported.issued };
    if (held.kind === 'deleted') {
      const issued = unite(held.issued, imported.issued);
      return sameRange(issued, held.issued) ? { kind: 'unchanged' } : { kind: 'deleted', issued };
    }
    // A live sequence here: it must never hand out what the deleted one did.
    const moved = continuedPast(held.state, imported.issued);
    if (moved === undefined) return noRoom(unite(held.state.issued, imported.issued));
    if (moved.position !== held.state.position) return { kind: 'raised', state: moved };
    return sameRange(moved.issued, held.state.issued) ? { kind: 'unchanged' } : { kind: 'widened', state: moved };
  }

  const { state, seed } = imported;
  if (imported.gapless !== undefined) return gaplessDecision(held, state, imported.gapless);
  if (held.kind !== 'live') {
    const previous = held.kind === 'deleted' ? held.issued : undefined;
    const created = continuedPast(state, previous);
    return created === undefined ? noRoom(unite(previous, state.issued)) : { kind: 'created', state: created };
  }

  const current = held.state;
  if (seed) {
    // A seed value speaks of an ascending sequence with default options; a descending one is left alone.
    if (!ascending(current)) return { kind: 'unchanged' };
    const raised = seedRaise(current, state);
    if (raised !== undefined) return checked(current, { kind: 'raised', state: raised });
    const issued = unite(current.issued, state.issued);
    return sameRange(issued, current.issued) ? { kind: 'unchanged' } : { kind: 'widened', state: { ...current, issued } };
  }
  if (ascending(state) !== ascending(current)) {
    if (current.issued !== undefined) {
      return {
        kind: 'conflict',
        reason:
          `the file's sequence counts ${ascending(state) ? 'up' : 'down'}, the store's counts ${ascending(current) ? 'up' : 'down'} ` +
          `and has handed out ${describeIssued(current.issued)}: a sequence that has handed out values keeps its direction`,
      };
    }
    // Nothing handed out here yet: taking the file's sequence repeats nothing.
    return { kind: 'raised', state };
  }
  if (furtherAlong(state, current)) {
    return checked(current, { kind: 'raised', state: { ...state, issued: unite(current.issued, state.issued) } });
  }
  const issued = unite(current.issued, state.issued);
  return sameRange(issued, current.issued) ? { kind: 'unchanged' } : { kind: 'widened', state: { ...current, issued } };
}

/**
 * A gapless sequence of the full format, with its values that are not
 * confirmed and its open reservations: taken whole where the store holds
 * nothing that could clash (no sequence, a tombstone it stays clear of, or a
 * sequence that has handed out nothing), unchanged where the store holds it
 * at the same position (the same file imported again); anything else would
 * mix two series, and is refused.
 */
function gaplessDecision(held: Held, state: SequenceState, gapless: GaplessImport): ImportDecision {
  if (held.kind === 'live') {
    const current = held.state;
    if (current.options.gapless && samePosition(current, state)) return { kind: 'unchanged' };
    if (current.issued === undefined) return { kind: 'raised', state, gapless };
    return {
      kind: 'conflict',
      reason:
        `the store's sequence has handed out ${describeIssued(current.issued)} and the file's is a gapless sequence at another position: ` +
        'a gapless series is imported only where the store holds no values of that name',
    };
  }
  const previous = held.kind === 'deleted' ? held.issued : undefined;
  const created = continuedPast(state, previous);
  if (created === undefined) return noRoom(unite(previous, state.issued));
  if (created.position !== state.position) {
    return {
      kind: 'conflict',
      reason: `a deleted sequence of this name handed out ${previous === undefined ? 'values' : describeIssued(previous)} within the file's gapless series`,
    };
  }
  return { kind: 'created', state: created, gapless };
}

function samePosition(a: SequenceState, b: SequenceState): boolean {
  return a.position.lastValue === b.position.lastValue && a.position.isCalled === b.position.isCalled;
}

/**
 * A held ascending sequence raised to a seed value (the last number the old
 * service issued), its options kept: its next value becomes the seed's next
 * (exhausted past its bound), or undefined if it stands there or further already.
 */
function seedRaise(current: SequenceState, seed: SequenceState): SequenceState | undefined {
  const heldNext = peekNext(current.position, current.options);
  const seedNext = peekNext(seed.position, seed.options);
  if (heldNext === undefined || (seedNext !== undefined && seedNext <= heldNext)) return undefined;
  const { minValue, maxValue } = current.options;
  const last = seed.position.isCalled ? seed.position.lastValue : undefined;
  const position =
    seedNext === undefined || seedNext > maxValue
      ? { lastValue: maxValue, isCalled: true }
      : last !== undefined && last >= minValue
        ? { lastValue: last, isCalled: true }
        : { lastValue: seedNext, isCalled: false };
  return { options: current.options, position, issued: unite(current.issued, seed.issued) };
}

/**
 * The last word on a write over a live sequence: it must not hand out a value
 * the held one handed out. (A cycling sequence wraps back by design.)
 */
function checked(current: SequenceState, decision: ImportDecision & { readonly state: SequenceState }): ImportDecision {
  const { state } = decision;
  if (state.options.cycle || !reissues(current.issued, state.options, state.position) || current.issued === undefined) return decision;
  return { kind: 'conflict', reason: `it would hand out again values the store's sequence handed out (${describeIssued(current.issued)})` };
}

function sameRange(a: IssuedRange | undefined, b: IssuedRange | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.low === b.low && a.high === b.high);
}

/** One entry of an import, by name. */
export interface ImportEntry {
  readonly name: string;
  readonly imported: Imported;
}

export interface ImportWrite {
  readonly name: string;
  readonly decision: Extract<ImportDecision, { readonly kind: 'created' | 'raised' | 'widened' | 'deleted' }>;
}

export interface ImportPlan {
  readonly writes: ImportWrite[];
  readonly summary: { created: number; raised: number; unchanged: number; deleted: number };
}

/** Import entries that cannot be applied without handing out a value again; nothing was imported. */
export class ImportConflictError extends Error {
  constructor(readonly conflicts: readonly { readonly name: string; readonly reason: string }[]) {
    super(
      `${conflicts.length} entr${conflicts.length === 1 ? 'y' : 'ies'} cannot be imported without handing out values again: ` +
        conflicts
          .slice(0, 10)
          .map((c) => `${JSON.stringify(c.name)}: ${c.reason}`)
          .join('; '),
    );
    this.name = 'ImportConflictError';
  }
}

/**
 * Decides a whole import against what the store holds (`held`, read inside
 * the store's transaction): the writes to make and the counts to report.
 * Throws ImportConflictError, listing every conflict, if any entry cannot be
 * applied safely: an import is all or nothing.
 */
export function planImport(entries: readonly ImportEntry[], held: (name: string) => Held): ImportPlan {
  const writes: ImportWrite[] = [];
  const summary = { created: 0, raised: 0, unchanged: 0, deleted: 0 };
  const conflicts: { name: string; reason: string }[] = [];
  for (const { name, imported } of entries) {
    const heldNow = held(name);
    const decided = importDecision(heldNow, imported);
    // The period recorded with a written sequence: the file's, unless the held one is later (periods never go back).
    const decision =
      (decided.kind === 'created' || decided.kind === 'raised') && imported.kind === 'sequence'
        ? { ...decided, period: laterPeriod(imported.period, heldNow.kind === 'live' ? heldNow.period : undefined) }
        : decided;
    switch (decision.kind) {
      case 'conflict':
        conflicts.push({ name, reason: decision.reason });
        continue;
      case 'unchanged':
        summary.unchanged += 1;
        continue;
      case 'widened':
        summary.unchanged += 1;
        break;
      default:
        summary[decision.kind] += 1;
    }
    writes.push({ name, decision });
  }
  if (conflicts.length > 0) throw new ImportConflictError(conflicts);
  return { writes, summary };
}

function laterPeriod(a: Period | undefined, b: Period | undefined): Period | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a.endsAt >= b.endsAt ? a : b;
}

/** The entries of a seed-format file (the Python service's sequences.json). */
export function seedEntries(values: ReadonlyMap<string, bigint>): ImportEntry[] {
  return Array.from(values, ([name, value]) => ({ name, imported: { kind: 'sequence', state: seedState(value), seed: true } }));
}

/** The entries of a full-format file: its sequences, then its deleted names. */
export function fullEntries(
  sequences: readonly (SequenceState & {
    readonly name: string;
    readonly gapless?: GaplessImport | undefined;
    readonly period?: Period | undefined;
  })[],
  deleted: readonly { readonly name: string; readonly issued: IssuedRange | undefined }[] = [],
): ImportEntry[] {
  return [
    ...sequences.map(
      ({ name, gapless, period, options, position, issued }): ImportEntry => ({
        name,
        imported: { kind: 'sequence', state: { options, position, issued }, seed: false, gapless, period },
      }),
    ),
    ...deleted.map(({ name, issued }): ImportEntry => ({ name, imported: { kind: 'deleted', issued } })),
  ];
}
