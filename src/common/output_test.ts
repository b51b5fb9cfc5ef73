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

Deno.test("LineWriter writes batches below and above its reused buffer's size byte for byte", async () => {
  // 10,000 lines of 7 UTF-16 units (70,000, at most 210,000 bytes of UTF-8) fit the reused
  // buffer of 256 KiB; 60,000 lines do not, and are encoded into an array of their own.
  for (const lines of [10_000, 60_000]) {
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
