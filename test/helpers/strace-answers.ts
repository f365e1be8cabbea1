/**
 * Reads a log of `strace -f -tt -e trace=read,recvfrom,readv,write,writev,
 * sendto,fsync,fdatasync -s 80` of the server and checks, for every answer
 * `HTTP/1.1 200` to a request that takes values (POST /next/…, POST …/confirm),
 * that an fsync or fdatasync completed (its result line, 0) after the read of
 * that request on that socket and before the answer's write began; it must
 * also have begun after that read (a sync already under way cannot cover a
 * commit of the request).
 *
 * A call another thread interrupts is split over two lines:
 * `read(23, <unfinished ...>` then `<... read resumed>"POST /next/a…", 65536) = 120`;
 * its arguments are the two halves together, its start the first line, its end the second.
 */

/** One answer checked: the request line it answers, and the line numbers (1-based) that decided. */
export interface CheckedAnswer {
  readonly request: string;
  readonly fd: number;
  readonly readLine: number;
  readonly writeLine: number;
  /** The completed sync between them; undefined: none (a violation). */
  readonly syncLine: number | undefined;
}

interface Call {
  readonly name: string;
  /** Everything between `name(` and the result, halves joined. */
  readonly args: string;
  readonly result: string;
  readonly startLine: number;
  readonly endLine: number;
}

const LINE = /^(?:(\d+)\s+)?(?:\d\d:\d\d:\d\d\.\d+\s+)?(.*)$/;
const TAKES_VALUES = /^"(POST \/next\/[^ ]*|POST \/sequences\/[^ ]*\/reservations\/[^ ]*\/confirm) HTTP\/1\.[01]\\r\\n/;
const READS = new Set(['read', 'recvfrom', 'readv']);
const WRITES = new Set(['write', 'writev', 'sendto']);
const SYNCS = new Set(['fsync', 'fdatasync']);

/** The calls of the log, in the order strace saw them end, interrupted ones joined. */
function calls(log: string): Call[] {
  const out: Call[] = [];
  const unfinished = new Map<string, { name: string; head: string; startLine: number }>();
  log.split('\n').forEach((raw, index) => {
    const lineNumber = index + 1;
    const [, pid = '', text = ''] = LINE.exec(raw) ?? [];
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(text);
    if (resumed !== null) {
      const begun = unfinished.get(pid);
      unfinished.delete(pid);
      const tail = /^(.*)\) += (.*)$/.exec(resumed[2] ?? '');
      if (begun === undefined || tail === null) return;
      out.push({ name: begun.name, args: begun.head + (tail[1] ?? ''), result: tail[2] ?? '', startLine: begun.startLine, endLine: lineNumber });
      return;
    }
    const call = /^(\w+)\((.*)$/.exec(text);
    if (call === null) return;
    const [, name = '', rest = ''] = call;
    const pending = /^(.*) <unfinished \.\.\.>$/.exec(rest);
    if (pending !== null) {
      unfinished.set(pid, { name, head: pending[1] ?? '', startLine: lineNumber });
      return;
    }
    const done = /^(.*)\) += (.*)$/.exec(rest);
    if (done !== null) out.push({ name, args: done[1] ?? '', result: done[2] ?? '', startLine: lineNumber, endLine: lineNumber });
  });
  return out;
}

/** Every answer to a request that takes values, with the sync that preceded it (or none). */
export function answersAndTheirSyncs(log: string): CheckedAnswer[] {
  const all = calls(log);
  const syncs = all.filter((c) => SYNCS.has(c.name) && c.result === '0');
  const lastRequest = new Map<number, { request: string; readLine: number }>();
  const answers: CheckedAnswer[] = [];
  for (const call of all) {
    const [, fdText, rest = ''] = /^(\d+),\s*(.*)$/.exec(call.args) ?? [];
    if (fdText === undefined) continue;
    const fd = Number(fdText);
    const data = rest.replace(/^\[\{iov_base=/, '');
    if (READS.has(call.name) && Number(call.result.split(' ')[0]) > 0) {
      const request = TAKES_VALUES.exec(data)?.[1];
      if (request !== undefined) lastRequest.set(fd, { request, readLine: call.endLine });
      else if (/^"[A-Z]+ \//.test(data)) lastRequest.delete(fd); // another request on this connection
    } else if (WRITES.has(call.name) && data.startsWith('"HTTP/1.1 200 ')) {
      const asked = lastRequest.get(fd);
      if (asked === undefined) continue;
      lastRequest.delete(fd);
      const syncLine = syncs.find((sync) => sync.startLine > asked.readLine && sync.endLine < call.startLine)?.endLine;
      answers.push({ request: asked.request, fd, readLine: asked.readLine, writeLine: call.startLine, syncLine });
    }
  }
  return answers;
}
