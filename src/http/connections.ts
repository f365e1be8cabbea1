import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';

/**
 * The most requests one connection may have waiting for their answers to be
 * written (HTTP/1.1 pipelining depth); a connection that sends more before its
 * answers go out is closed. Clients that pipeline use small depths (autocannon's
 * `-p 10` in Fastify's benchmarks, 16 in TechEmpower's plaintext test);
 * browsers, curl, fetch/undici by default, Go's and Python's clients send one
 * request at a time. A client that pipelines and never reads would otherwise
 * have an answer built and held for every request it sends.
 */
export const MAX_PIPELINED_REQUESTS = 16;

/**
 * How long after a connection was closed for pipelining too deep new (and
 * open) connections are read in slices. Slicing costs every request a little
 * (Node then parses from a JavaScript 'data' event instead of straight from
 * the socket, about 3 µs a request measured), so it is on only while someone
 * pipelines without reading.
 */
const PACING_MS = 60_000;

/** At most one warning about connections closed for pipelining this often. */
const WARNING_INTERVAL_MS = 10_000;

export interface HttpServerOptions {
  /** Serve HTTPS with this PEM certificate and key (default: plain HTTP). */
  readonly https?: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  /** Longest time to receive a whole request. */
  readonly requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open. */
  readonly keepAliveTimeoutMs: number;
}

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

interface Connection {
  /** The TCP socket accepted (under the TLS socket, for HTTPS). */
  readonly tcp: Socket;
  /** The socket requests come on: the TCP socket, or for HTTPS the TLS socket over it once the handshake is done. */
  requests: Socket | undefined;
  /** Its reads are parsed in slices (see PACING_MS). */
  paced: boolean;
  /** Answers to requests received and not written yet, oldest first (each knows its request: `req`). */
  readonly waiting: Set<ServerResponse>;
}

/**
 * Bytes of a read handed to Node's HTTP parser at a time. Node reads up to
 * 64 KiB and parses all of it before it can pause a socket whose answers are
 * not being read: a read of tiny pipelined requests (18 bytes is enough) would
 * become thousands of request objects at once. In slices, parsing stops within
 * a slice of the moment Node pauses the socket or the connection is closed.
 */
const PARSE_SLICE_BYTES = 2048;

/** A socket's connection (the TCP socket's, or the TLS socket's over it), found without a lookup per request. */
const CONNECTION = Symbol('connection');
type Tracked = Socket & { [CONNECTION]?: Connection };
type TrackedResponse = ServerResponse & { [CONNECTION]?: Connection };

/**
 * A TCP connection's remote end: the same for the TCP socket and the TLS
 * socket over it, which Node hands out separately ('connection', requests).
 */
function endpointOf(socket: Socket): string | undefined {
  const { remoteAddress, remotePort } = socket;
  return remoteAddress === undefined || remotePort === undefined ? undefined : `${remoteAddress}|${remotePort}`;
}

/**
 * The server's connections: the HTTP(S) server Fastify serves on (its
 * `serverFactory`), what one connection may have waiting, and how
 * connections end on shutdown.
 *
 * - A connection with more than MAX_PIPELINED_REQUESTS requests waiting for
 *   their answers is closed. Node parses a whole read (up to 64 KiB, over a
 *   thousand tiny pipelined requests) before anything can stop it; so from the
 *   first such connection on, for PACING_MS, every connection (those open
 *   included) is read a slice at a time, and not at all while Node has paused
 *   it because its answers are not being read: the rest of what a closed
 *   connection sent is dropped unparsed. The rest of the time reads take
 *   Node's fast path (its parser reads the socket itself).
 * - Shutdown (Fastify's preClose, on SIGTERM): a connection without a request
 *   received in full and not yet answered is closed at once, whether it is idle
 *   (keep-alive) or halfway through a request line, headers, body or TLS
 *   handshake. The others stay open until those requests are answered (the
 *   last answer says `Connection: close`).
 */
export class Connections {
  readonly #open = new Map<string, Connection>();
  #closing = false;
  #log: FastifyBaseLogger | undefined;
  /** Connections closed for pipelining since the last warning, and the clock of the next one. */
  #dropped = 0;
  #warningTimer: NodeJS.Timeout | undefined;
  #warnedUnpaced = false;
  /** Until when reads are sliced (ms since the epoch; see PACING_MS). */
  #paceUntil = 0;
  /** Set when a connection is accepted; cleared by acceptedSinceAsked. */
  #accepted = false;

  /** Creates the server; `handler` is Fastify's. */
  createServer(options: HttpServerOptions, handler: Handler): http.Server {
    const onRequest: Handler = (request, response) => this.#onRequest(request, response, handler);
    // Node would answer an HTTP/1.1 request without Host with an empty 400; the
    // onRequest check in http/error-handling.ts answers it in our error shape.
    const server =
      options.https === undefined
        ? http.createServer({ requireHostHeader: false }, onRequest)
        : https.createServer({ cert: options.https.cert, key: options.https.key, requireHostHeader: false }, onRequest);
    server.requestTimeout = options.requestTimeoutMs;
    server.keepAliveTimeout = options.keepAliveTimeoutMs;
    // Every TCP connection, for HTTPS too: a TLS handshake that never ends is one to close on shutdown.
    server.on('connection', (tcp: Socket) => this.#onConnection(tcp));
    // Node's HTTP server sets a socket up in its own listener, which runs before these.
    server.on(options.https === undefined ? 'connection' : 'secureConnection', (socket: Tracked) => {
      // On HTTPS, requests come on the TLS socket: it is tied to its TCP connection once, by their common remote end.
      const endpoint = endpointOf(socket);
      const connection = endpoint === undefined ? undefined : this.#open.get(endpoint);
      if (connection === undefined) return;
      socket[CONNECTION] = connection;
      connection.requests = socket;
      if (Date.now() < this.#paceUntil) this.#pace(connection);
    });
    // Node would answer an Expect other than 100-continue with an empty 417; route
    // it to the app instead, whose onRequest check answers 400 bad_request in our shape.
    server.on('checkExpectation', onRequest);
    return server;
  }

  /** Logs through the app, and closes connections as described above when the app closes. */
  register(app: FastifyInstance): void {
    this.#log = app.log;
    app.addHook('preClose', (done) => {
      this.#closeForShutdown();
      done();
    });
    app.addHook('onClose', (_instance, done) => {
      clearTimeout(this.#warningTimer);
      done();
    });
  }

  /**
   * Whether a connection was accepted since the last call: the allocator's
   * `gatherMore` (core/allocator.ts). Node accepts one connection an
   * event-loop turn, so while connections keep arriving (a burst of new
   * clients, clients that open a connection per request) their requests
   * reach the allocator one turn at a time; told so, it lets a batch wait a
   * few more turns instead of committing (and fsyncing) once a connection.
   */
  acceptedSinceAsked(): boolean {
    const accepted = this.#accepted;
    this.#accepted = false;
    return accepted;
  }

  #onConnection(tcp: Tracked): void {
    const endpoint = endpointOf(tcp);
    if (endpoint === undefined || this.#closing) {
      tcp.destroy();
      return;
    }
    this.#accepted = true;
    const connection: Connection = { tcp, requests: undefined, paced: false, waiting: new Set() };
    tcp[CONNECTION] = connection;
    this.#open.set(endpoint, connection);
    tcp.once('close', () => {
      if (this.#open.get(endpoint) === connection) this.#open.delete(endpoint);
    });
  }

  /**
   * Puts this between the socket and Node's parser: Node's own 'data' listener
   * (which hands a read to the parser) gets each read in slices, none while the
   * socket is paused or once it is destroyed; the rest waits for 'resume'.
   * Adding a 'data' listener is also what makes Node feed its parser from
   * JavaScript instead of straight from the socket.
   */
  #pace(connection: Connection): void {
    const socket = connection.requests;
    if (connection.paced || socket === undefined || socket.destroyed) return;
    connection.paced = true;
    const listeners = socket.listeners('data');
    const parse = listeners[0] as ((chunk: Buffer) => void) | undefined;
    if (listeners.length !== 1 || parse === undefined) {
      if (!this.#warnedUnpaced) {
        this.#warnedUnpaced = true;
        this.#log?.warn("this Node version's HTTP server reads sockets differently: reads are parsed whole, as Node does");
      }
      return;
    }
    socket.removeListener('data', parse);
    let unread: Buffer | undefined;
    const feed = (): void => {
      while (unread !== undefined && !socket.destroyed && !socket.isPaused()) {
        const slice = unread.length > PARSE_SLICE_BYTES ? unread.subarray(0, PARSE_SLICE_BYTES) : unread;
        unread = slice === unread ? undefined : unread.subarray(PARSE_SLICE_BYTES);
        parse.call(socket, slice);
      }
      if (socket.destroyed) unread = undefined;
    };
    socket.on('data', (chunk: Buffer) => {
      // Only while flowing: a paused socket emits no data, so this holds at most the rest of one read.
      unread = unread === undefined ? chunk : Buffer.concat([unread, chunk]);
      feed();
    });
    // Node resumes the socket once its answers are read; 'resume' comes before the data buffered since.
    socket.on('resume', feed);
  }

  #onRequest(request: IncomingMessage, response: ServerResponse, handler: Handler): void {
    const socket = request.socket as Tracked;
    // A connection closed for pipelining too deep: what was parsed of its last read is dropped.
    if (socket.destroyed) return;
    const connection = socket[CONNECTION];
    if (connection === undefined) {
      handler(request, response);
      return;
    }
    (response as TrackedResponse)[CONNECTION] = connection;
    connection.waiting.add(response);
    // 'close' follows the answer's last byte handed to the socket, or the connection's end.
    response.on('close', this.#answered);
    if (connection.waiting.size > MAX_PIPELINED_REQUESTS) {
      socket.destroy();
      connection.tcp.destroy();
      this.#warnDropped(socket.remoteAddress);
      // Someone pipelines without reading: slice every connection's reads for a while, these open ones too.
      this.#paceUntil = Date.now() + PACING_MS;
      for (const open of this.#open.values()) this.#pace(open);
      return;
    }
    if (this.#closing) response.setHeader('Connection', 'close');
    handler(request, response);
  }

  /**
   * The one 'close' listener of every answer (a function shared by all, not a
   * closure per request: /next pays for each): the answer is written, or its
   * connection ended.
   */
  readonly #answered = ((connections: Connections) =>
    function answered(this: TrackedResponse): void {
      const connection = this[CONNECTION];
      if (connection === undefined) return;
      connection.waiting.delete(this);
      if (connections.#closing) connections.#closeWhenAnswered(connection);
    })(this);

  #closeForShutdown(): void {
    this.#closing = true;
    for (const connection of this.#open.values()) {
      const answering = [...connection.waiting].filter((response) => response.req.complete);
      const last = answering[answering.length - 1];
      if (last === undefined) {
        // Idle, or a request (line, headers or body) or TLS handshake not received in full.
        for (const response of connection.waiting) response.req.socket.destroy();
        connection.tcp.destroy();
        continue;
      }
      // Earlier answers keep the connection open for the later ones; the last one closes it
      // (or, if its headers are out already, the connection ends once it is written).
      if (!last.headersSent) last.setHeader('Connection', 'close');
    }
  }

  /** During shutdown: ends the connection once no request received in full awaits its answer. */
  #closeWhenAnswered(connection: Connection): void {
    for (const response of connection.waiting) if (response.req.complete) return;
    // After the answers written so far (a request still arriving is dropped).
    (connection.requests ?? connection.tcp).destroySoon();
  }

  /** One warning at once, then at most one every 10 s with the count since (none if none). */
  #warnDropped(client: string | undefined): void {
    this.#dropped += 1;
    if (this.#warningTimer === undefined) this.#warn(client);
  }

  #warn(client: string | undefined): void {
    if (this.#dropped === 0) {
      this.#warningTimer = undefined;
      return;
    }
    this.#log?.warn(
      { client, connections: this.#dropped },
      `closed ${this.#dropped} connection(s) with more than ${MAX_PIPELINED_REQUESTS} requests waiting ` +
        'for their answers (HTTP pipelining without reading the answers); shown at most every 10 s',
    );
    this.#dropped = 0;
    this.#warningTimer = setTimeout(() => this.#warn(undefined), WARNING_INTERVAL_MS).unref();
  }
}
