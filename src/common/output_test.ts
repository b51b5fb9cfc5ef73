import assert from "node:assert/strict";
import { LineWriter } from "./output.ts";

/** A sink that records each write call and can accept only part of a buffer. */
function recordingSink(maxPerWrite = Infinity) {
  const writes: string[] = [];
  return {
    writes,
    write(bytes: Uint8Array): Promise<number> {
      const n = Math.min(bytes.length, maxPerWrite);
      writes.push(new TextDecoder().decode(bytes.subarray(0, n)));
      return Promise.resolve(n);
    },
  };
}

Deno.test("LineWriter batches the lines of one turn into one write", async () => {
  const sink = recordingSink();
  const out = new LineWriter(sink);
  for (let i = 0; i < 1000; i++) out.line(`line ${i}`);
  await out.flush();
  assert.equal(sink.writes.length, 1);
  assert.equal(sink.writes[0]!.split("\n").length, 1001);
});

Deno.test("LineWriter completes partial writes and keeps the order", async () => {
  const sink = recordingSink(7);
  const out = new LineWriter(sink);
  out.line("alpha");
  out.line("beta é");
  await out.flush();
  out.line("gamma");
  await out.flush();
  assert.equal(sink.writes.join(""), "alpha\nbeta é\ngamma\n");
});

Deno.test("LineWriter writes on its own without a flush", async () => {
  const sink = recordingSink();
  const out = new LineWriter(sink);
  out.line("soon");
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(sink.writes, ["soon\n"]);
});

Deno.test("LineWriter reports full above its high-water mark and drains", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const written: number[] = [];
  const out = new LineWriter({
    async write(bytes) {
      await gate;
      written.push(bytes.length);
      return bytes.length;
    },
  }, { highWaterMark: 100 });
  for (let i = 0; i < 20; i++) out.line("0123456789");
  assert.equal(out.full, true);
  const drained = out.drained();
  release();
  await drained;
  assert.equal(out.full, false);
  await out.flush();
  assert.equal(written.reduce((a, b) => a + b, 0), 20 * 11);
});

Deno.test("LineWriter calls onClosed once when the reader is gone, and drops later lines", async () => {
  const brokenPipe = () => new Deno.errors.BrokenPipe("Broken pipe (os error 32)");
  const sinks = {
    "asynchronous write": { write: () => Promise.reject(brokenPipe()) },
    "synchronous write": {
      write: () => Promise.resolve(0),
      writeSync: (): number => {
        throw brokenPipe();
      },
    },
  };
  for (const [kind, sink] of Object.entries(sinks)) {
    let closed = 0;
    const out = new LineWriter(sink, { onClosed: () => closed++ });
    out.line("one");
    await out.flush();
    out.line("two");
    await out.flush();
    assert.equal(closed, 1, kind);
    assert.equal(out.closed, true, kind);
  }
});

/** A sink with a synchronous write that records each call and takes at most `maxPerWrite`. */
function syncSink(maxPerWrite = Infinity) {
  const writes: Uint8Array[] = [];
  let asyncWrites = 0;
  return {
    writes,
    get asyncWrites() {
      return asyncWrites;
    },
    write(_bytes: Uint8Array): Promise<number> {
      asyncWrites++;
      return Promise.resolve(0);
    },
    writeSync(bytes: Uint8Array): number {
      const n = Math.min(bytes.length, maxPerWrite);
      writes.push(bytes.slice(0, n));
      return n;
    },
  };
}

Deno.test("LineWriter writes synchronously, batched and complete, when the sink can", async () => {
  const sink = syncSink(5);
  const out = new LineWriter(sink);
  for (let i = 0; i < 3; i++) out.line(`line ${i}`);
  await out.flush();
  out.line("é at the end");
  await out.flush();
  assert.equal(sink.asyncWrites, 0);
  const all = new Uint8Array(sink.writes.flatMap((chunk) => [...chunk]));
  assert.equal(new TextDecoder().decode(all), "line 0\nline 1\nline 2\né at the end\n");
  assert.ok(sink.writes.every((chunk) => chunk.length <= 5));
});

Deno.test("LineWriter writes batches smaller and larger than its first buffer byte for byte", async () => {
  // 5,000 lines of 7 UTF-16 units (35,000, at most 105,000 bytes of UTF-8 reserved) fit the
  // queue's first 64 KiB once encoded but not as reserved; 60,000 lines grow it several times.
  for (const lines of [100, 5_000, 60_000]) {
    const sink = syncSink();
    const out = new LineWriter(sink);
    for (let i = 0; i < lines; i++) out.line(i % 2 === 0 ? "é-€-𝄞" : "abcdef");
    await out.flush();
    const text = new TextDecoder().decode(
      new Uint8Array(sink.writes.flatMap((chunk) => [...chunk])),
    );
    const expected = Array.from({ length: lines }, (_, i) => i % 2 === 0 ? "é-€-𝄞\n" : "abcdef\n");
    assert.equal(text, expected.join(""), `${lines} lines`);
  }
});

/** Puts line `i` as bytes: fixed bytes, a number, then UTF-8 text. */
function byteLine(out: LineWriter, i: number): void {
  const queue = out.beginLine();
  queue.put(new Uint8Array([98, 58])); // "b:"
  queue.putAscii(String(i));
  queue.putText(" é");
  out.endLine();
}

Deno.test("LineWriter keeps string lines and byte lines in the order they came", async () => {
  for (const sync of [true, false]) {
    // Writes of at most 1,000 bytes, whose ends fall inside characters.
    const chunks: Uint8Array[] = [];
    const take = (bytes: Uint8Array): number => {
      chunks.push(bytes.slice(0, 1000));
      return Math.min(bytes.length, 1000);
    };
    const out = new LineWriter(
      sync
        ? { write: () => Promise.reject(new Error("not used")), writeSync: take }
        : { write: (bytes) => Promise.resolve(take(bytes)) },
    );
    const expected: string[] = [];
    for (let i = 0; i < 3000; i++) {
      // Runs of each kind, of changing lengths, across several writes.
      if ((i >> (i % 3 + 1)) % 2 === 0) {
        out.line(`s:${i} 𝄞`);
        expected.push(`s:${i} 𝄞\n`);
      } else {
        byteLine(out, i);
        expected.push(`b:${i} é\n`);
      }
      if (i % 700 === 0) await out.flush();
    }
    await out.flush();
    const written = new TextDecoder().decode(new Uint8Array(chunks.flatMap((chunk) => [...chunk])));
    assert.equal(written, expected.join(""), sync ? "synchronous sink" : "asynchronous sink");
  }
});

Deno.test("LineWriter hands an asynchronous write a copy that later byte lines do not change", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const seen: string[] = [];
  const out = new LineWriter({
    async write(bytes) {
      await gate;
      seen.push(new TextDecoder().decode(bytes));
      return bytes.length;
    },
  });
  byteLine(out, 1);
  await new Promise((resolve) => setTimeout(resolve, 5)); // the first write is under way
  for (let i = 2; i < 5; i++) byteLine(out, i);
  release();
  await out.flush();
  assert.deepEqual(seen, ["b:1 é\n", "b:2 é\nb:3 é\nb:4 é\n"]);
});

Deno.test("LineWriter counts byte lines toward full and drops them once the reader is gone", async () => {
  // A reader that takes nothing yet: the lines stay queued.
  const out = new LineWriter({ write: () => new Promise<number>(() => {}) }, {
    highWaterMark: 20,
  });
  byteLine(out, 123456); // 12 bytes
  assert.equal(out.full, false);
  byteLine(out, 7654321); // 13 more
  assert.equal(out.full, true);
  let written = 0;
  const closing = new LineWriter({
    write: () => Promise.resolve(written++),
    writeSync: () => {
      written++;
      throw new Deno.errors.BrokenPipe("Broken pipe (os error 32)");
    },
  });
  byteLine(closing, 1);
  await closing.flush();
  assert.equal(closing.closed, true);
  byteLine(closing, 2);
  closing.line("after");
  await closing.flush();
  assert.equal(written, 1);
});
