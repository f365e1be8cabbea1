import type { Grant } from '../../core/gapless.js';
import type { AnswerLabels } from '../../core/periodic.js';
import type { AllocationOutcome, AllocationRequest } from '../../core/store.js';

/** One request of a batch, with where its answer goes. */
export interface Slot {
  readonly index: number;
  readonly request: AllocationRequest;
}

/** The answers of a batch, filled in as its paths decide them. */
export type Outcomes = (AllocationOutcome | undefined)[];

/** A request that took first..last, whose key (if any) is still to be recorded. */
export interface Taken {
  readonly slot: Slot;
  readonly first: bigint;
  readonly last: bigint;
  /** A gapless sequence's reservation of `first` (recorded with its key: a replay answers it). */
  readonly grant?: Grant | undefined;
  /** Its period and formatted numbers (recorded with its key: a replay answers them). */
  readonly labels?: AnswerLabels | undefined;
}

/** The slots by sequence name, in arrival order within each. */
export function groupByName(slots: readonly Slot[]): Map<string, Slot[]> {
  const groups = new Map<string, Slot[]>();
  for (const slot of slots) {
    const group = groups.get(slot.request.name);
    if (group === undefined) groups.set(slot.request.name, [slot]);
    else group.push(slot);
  }
  return groups;
}

/** How many values the slots take together. */
export function totalOf(group: readonly Slot[]): bigint {
  return group.reduce((sum, slot) => sum + slot.request.count, 0n);
}
