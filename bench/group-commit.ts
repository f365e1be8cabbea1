/**
 * The durable floors' group commit: answers queued during an event-loop
 * turn are released together after one append (32 bytes each) and one
 * fdatasync of `file`, as a durable service must: every answer after its sync.
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';

export interface GroupCommit {
  /** Queues `answer`, called once the batch it joins is on disk. */
  readonly wait: (answer: () => void) => void;
  readonly close: () => void;
}

export function groupCommit(file: string): GroupCommit {
  const fd = openSync(file, 'a');
  let waiting: (() => void)[] = [];
  let scheduled = false;
  const commit = (): void => {
    scheduled = false;
    const batch = waiting;
    waiting = [];
    writeSync(fd, Buffer.alloc(32 * batch.length, 1));
    fdatasyncSync(fd);
    for (const answer of batch) answer();
  };
  return {
    wait: (answer) => {
      waiting.push(answer);
      if (!scheduled) {
        scheduled = true;
        setImmediate(commit);
      }
    },
    close: () => closeSync(fd),
  };
}
