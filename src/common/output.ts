/**
 * Batched line output. Writing one line per system call caps a receiver at a few tens of
 * thousands of datagrams a second; this writer gathers the lines of one event-loop turn
 * into a single write, applies back-pressure when the reader is slow, and can be flushed
 * before exit so that nothing is lost.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LineWriter } from "./output.ts";
 * const chunks: string[] = [];
 * const out = new LineWriter({ write: (bytes) => {
 *   chunks.push(new TextDecoder().decode(bytes));
 *   return Promise.resolve(bytes.length);
 * } });
 * out.line("one");
 * out.line("two");
 * await out.flush();
 * assert.ok(chunks.join("") === "one\ntwo\n");
 * ```
 *
 * @module
 */

import { type ByteSink, writeAll, writeAllSync } from "./write.ts";

export type { ByteSink } from "./write.ts";

/** Options of {@linkcode LineWriter}. */
export interface LineWriterOptions {
  /** Queued characters above which {@linkcode LineWriter.full} turns true. Default 1 MiB. */
  highWaterMark?: number;
  /** Called once if writing fails: the reader has gone away (`udpeer | head -n 3`). */
  onClosed?: () => void;
}

const encoder = new TextEncoder();
const NEWLINE = new Uint8Array([10]);
/** Up to this many bytes, {@linkcode ByteQueue.put} copies byte by byte rather than with `set`. */
const SHORT_PIECE_BYTES = 24;

/** How long lines queued during a write wait before the next one (see #startWriting). */
const BATCH_WAIT_MS = 1;

/**
 * After this long without a write, a line to a synchronous sink is written at the end of
 * the current task instead of on a timer: see {@linkcode LineWriter.line}.
 */
const IDLE_MS = 5;

/**
 * Output bytes queued in one buffer that grows as needed: the lines a hot path writes as
 * bytes ({@linkcode LineWriter.beginLine}) go straight in, with no string to build and
 * encode. Every `put` checks the room it needs, so a line cannot overrun it. The buffer keeps
 * the largest size a batch needed; a line writer's batches stop growing at its high-water
 * mark (1 MiB of queued text, up to three times that in bytes reserved for encoding).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ByteQueue } from "./output.ts";
 * const queue = new ByteQueue(4);
 * queue.put(new Uint8Array([123]));
 * queue.putAscii("count=" + 42);
 * queue.putText("é}");
 * assert.equal(new TextDecoder().decode(queue.bytes()), "{count=42é}");
 * ```
 */
export class ByteQueue {
  #buffer: Uint8Array;
  #length = 0;

  /**
   * Creates an empty queue.
   *
   * @param initialBytes Room to start with; it doubles when a put needs more.
   */
  constructor(initialBytes = 64 * 1024) {
    this.#buffer = new Uint8Array(Math.max(1, initialBytes));
  }

  /** Bytes queued. */
  get length(): number {
    return this.#length;
  }

  /**
   * Appends bytes.
   *
   * @param bytes The bytes (copied: the caller may reuse them).
   */
  put(bytes: Uint8Array): void {
    const start = this.#length;
    const end = start + bytes.length;
    if (end > this.#buffer.length) this.#grow(end);
    const buffer = this.#buffer;
    // A line's pieces are mostly a few bytes long (a key, a separator), and copying those
    // one by one costs about two thirds of TypedArray.prototype.set's call (measured).
    if (bytes.length > SHORT_PIECE_BYTES) buffer.set(bytes, start);
    else for (let i = 0; i < bytes.length; i++) buffer[start + i] = bytes[i]!;
    this.#length = end;
  }

  /**
   * Appends an ASCII string, one byte per character: numbers, ISO 8601 times, fixed names.
   * Anything else must go through {@linkcode putText}.
   *
   * @param text The string, ASCII only.
   */
  putAscii(text: string): void {
    const start = this.#length;
    const end = start + text.length;
    if (end > this.#buffer.length) this.#grow(end);
    const buffer = this.#buffer;
    for (let i = 0; i < text.length; i++) buffer[start + i] = text.charCodeAt(i);
    this.#length = end;
  }

  /**
   * Appends any string as UTF-8 (a lone surrogate becomes U+FFFD, as `TextEncoder` makes it).
   *
   * @param text The string.
   */
  putText(text: string): void {
    // UTF-8 takes at most 3 bytes for each UTF-16 unit.
    const most = this.#length + text.length * 3;
    if (most > this.#buffer.length) this.#grow(most);
    this.#length += encoder.encodeInto(text, this.#buffer.subarray(this.#length)).written;
  }

  /**
   * The bytes queued: a view valid until the next put or clear.
   *
   * @returns The bytes.
   */
  bytes(): Uint8Array {
    return this.#buffer.subarray(0, this.#length);
  }

  /** Empties the queue, keeping its room. */
  clear(): void {
    this.#length = 0;
  }

  #grow(atLeast: number): void {
    const grown = new Uint8Array(Math.max(this.#buffer.length * 2, atLeast));
    grown.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = grown;
  }
}

/** Gathers lines and writes them in batches to a {@linkcode ByteSink}. */
export class LineWriter {
  #sink: ByteSink;
  // The lines queued, newlines included, as one string: appending makes a rope that the
  // encoder reads once, which costs about half of joining an array of lines and encoding
  // the joined string (~0.15 µs a line of 290 characters against ~0.3).
  #queue = "";
  // Lines written as bytes (beginLine), and any string lines queued before them: they come
  // before #queue's.
  #bytes = new ByteQueue();
  #highWaterMark: number;
  #onClosed: (() => void) | undefined;
  #writing: Promise<void> | undefined;
  #scheduled = false;
  #closed = false;
  #lastWriteAt = -Infinity;
  #writeNow = (): void => this.#startWriting();

  /**
   * Creates the writer.
   *
   * @param sink Where to write.
   * @param options Back-pressure threshold and the closed-reader callback.
   */
  constructor(sink: ByteSink, options: LineWriterOptions = {}) {
    this.#sink = sink;
    this.#highWaterMark = options.highWaterMark ?? 1 << 20;
    this.#onClosed = options.onClosed;
  }

  /** True when the reader has gone away; further lines are discarded. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True when so much is queued that the producer should wait for {@linkcode drained}. */
  get full(): boolean {
    return this.#queue.length + this.#bytes.length >= this.#highWaterMark;
  }

  /**
   * Queues one line (a newline is added) to be written within this event-loop turn.
   *
   * @param text The line, without its newline.
   */
  line(text: string): void {
    if (this.#closed) return;
    this.#queue += text + "\n";
    this.#schedule();
  }

  /**
   * Starts a line written as bytes, for a hot path whose lines are mostly the same pieces:
   * put them into the queue returned, then call {@linkcode endLine}. A flood's `--json` line
   * costs 0.08–0.14 µs less than as a string built, joined and encoded, of 0.7–0.85 µs for
   * the whole datagram (bench/pipeline_bench.ts, docs/performance.md).
   *
   * @returns The queue to put the line's bytes into (no newline), until `endLine()`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { LineWriter } from "./output.ts";
   * let text = "";
   * const out = new LineWriter({
   *   write: (bytes) => Promise.resolve(bytes.length),
   *   writeSync: (bytes) => (text += new TextDecoder().decode(bytes), bytes.length),
   * });
   * out.line("one");
   * out.beginLine().putAscii("count=" + 2);
   * out.endLine();
   * await out.flush();
   * assert.equal(text, "one\ncount=2\n");
   * ```
   */
  beginLine(): ByteQueue {
    // The string lines queued so far go first.
    this.#moveStringLines();
    return this.#bytes;
  }

  /** Ends the line begun by {@linkcode beginLine}: adds its newline and queues it. */
  endLine(): void {
    if (this.#closed) return this.#bytes.clear();
    this.#bytes.put(NEWLINE);
    this.#schedule();
  }

  /** Encodes the string lines queued into the byte queue, after the lines already there. */
  #moveStringLines(): void {
    if (this.#queue.length === 0) return;
    this.#bytes.putText(this.#queue);
    this.#queue = "";
  }

  #schedule(): void {
    if (!this.#scheduled && this.#writing === undefined) {
      this.#scheduled = true;
      // At heartbeat rates a timer per line costs the process a wake-up of the event loop
      // of its own (~0.1 ms of CPU on a small VM, more than the rest of a heartbeat's
      // work): after a quiet spell the line goes out at the end of the current task, with
      // whatever else that task prints. Under a flood lines keep coming and the timer
      // gathers a turn's worth into one write, as before.
      if (this.#sink.writeSync !== undefined && performance.now() - this.#lastWriteAt >= IDLE_MS) {
        queueMicrotask(this.#writeNow);
      } else {
        setTimeout(this.#writeNow, 0);
      }
    }
  }

  /**
   * Resolves once the queue is below the high-water mark again.
   *
   * @returns A promise that settles when more lines may be queued.
   */
  async drained(): Promise<void> {
    while (this.full && !this.#closed) {
      this.#startWriting();
      await this.#writing;
    }
  }

  /**
   * Writes everything queued so far and waits until it is written.
   *
   * @returns A promise that settles when the queue is empty.
   */
  async flush(): Promise<void> {
    while (
      (this.#queue.length > 0 || this.#bytes.length > 0 || this.#writing !== undefined) &&
      !this.#closed
    ) {
      this.#startWriting();
      await this.#writing;
    }
  }

  #startWriting(): void {
    this.#scheduled = false;
    if (this.#writing !== undefined || this.#closed) return;
    // The string lines go after any written as bytes, encoded once for the whole batch.
    this.#moveStringLines();
    if (this.#bytes.length === 0) return;
    if (this.#sink.writeSync !== undefined) {
      // A synchronous write where the sink has one (Deno.stdout): an asynchronous write
      // hands every batch to a thread of its own, which under a flood cost the receive
      // path a quarter of its throughput to a file (docs/performance.md). Node writes
      // stdout synchronously to files and pipes on Linux for the same reason; a full pipe
      // holds the loop as the high-water mark would have. The queue's buffer is reused as
      // soon as the write returns.
      try {
        writeAllSync(this.#sink as Required<ByteSink>, this.#bytes.bytes());
      } catch {
        this.#close();
      }
      this.#bytes.clear();
      this.#lastWriteAt = performance.now();
      return;
    }
    // An asynchronous write outlives this call: it gets a copy, and the queue is free.
    const bytes = this.#bytes.bytes().slice();
    this.#bytes.clear();
    this.#writing = this.#write(bytes).finally(() => {
      this.#writing = undefined;
      // Lines that came in during this write wait one more millisecond for company: each
      // asynchronous write costs Deno ~30 µs of hand-off to a thread of its own, and under
      // a flood a write then carries ~300 lines instead of ~60 (a fifth of the writes,
      // 0.2–0.3 µs less CPU per datagram). A lone line is still written at once.
      if (this.#queue.length + this.#bytes.length > 0 && !this.#scheduled) {
        this.#scheduled = true;
        setTimeout(() => this.#startWriting(), BATCH_WAIT_MS);
      }
    });
  }

  async #write(bytes: Uint8Array): Promise<void> {
    try {
      await writeAll(this.#sink, bytes);
    } catch {
      this.#close();
    }
  }

  // A closed pipe (BrokenPipe) or a stream that went away: nobody can read what follows, so
  // stop writing and let the program end quietly.
  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = "";
    this.#bytes.clear();
    this.#onClosed?.();
  }
}

/**
 * What a subcommand's printer makes of one event: the lines for stdout and the lines for
 * stderr, each without its newline. The peer, serve and chat all print this one shape.
 */
export interface Printed {
  /** Lines for stdout. */
  readonly stdout: readonly string[];
  /** Lines for stderr. */
  readonly stderr: readonly string[];
}

/** Nothing to print. */
export const NOTHING: Printed = Object.freeze({ stdout: [], stderr: [] });

/**
 * Lines for stdout.
 *
 * @param lines The lines.
 * @returns What to print.
 */
export function toStdout(...lines: string[]): Printed {
  return { stdout: lines, stderr: [] };
}

/**
 * Lines for stderr.
 *
 * @param lines The lines.
 * @returns What to print.
 */
export function toStderr(...lines: string[]): Printed {
  return { stdout: [], stderr: lines };
}

/**
 * Prints what a printer made: stdout's lines through the line writer, stderr's at once.
 *
 * @param printed The lines.
 * @param out Where stdout's lines go.
 * @param errorLine Where stderr's lines go (console.error by default).
 */
export function print(
  printed: Printed,
  out: { line(text: string): void },
  errorLine: (text: string) => void = (text) => console.error(text),
): void {
  for (const line of printed.stdout) out.line(line);
  for (const line of printed.stderr) errorLine(line);
}
