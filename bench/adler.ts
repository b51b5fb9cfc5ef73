/**
 * Adler-32 against zlib's C implementation, in the same run: `protocol.ts`'s `adler32()` and
 * Python's `zlib.adler32` (the system zlib, C) each checksum the same 64 KiB of
 * pseudo-random bytes, in processes of their own, alternating, and the ratio of their
 * speeds is taken per round; the median over the rounds is reported. Both must agree on the
 * checksum. Each process warms up, then times batches of calls for about a second and keeps
 * the median batch, so a moment of contention on a shared machine does not count.
 *
 * ```sh
 * deno run -A bench/adler.ts --rounds 3        # prints one JSON object (AdlerResult)
 * ```
 *
 * @module
 */

import { adler32 } from "../protocol.ts";
import { cpuModel, median, numberFlag, repoDir } from "./lib.ts";

/** Bytes checksummed per call. */
export const ADLER_BYTES = 64 * 1024;

/** One round: both implementations, back to back. */
export interface AdlerRound {
  /** protocol.ts adler32, GB/s. */
  deno: number;
  /** Python's zlib.adler32, GB/s. */
  zlib: number;
}

/** What {@linkcode measureAdler} found. */
export interface AdlerResult {
  /** Every round. */
  rounds: AdlerRound[];
  /** Median GB/s of protocol.ts. */
  deno: number;
  /** Median GB/s of zlib. */
  zlib: number;
  /** Median over the rounds of deno ÷ zlib. */
  ratio: number;
  /** The CPU it ran on: the ratio differs by CPU family (docs/performance.md). */
  cpu: string;
}

/** `length` bytes that look like traffic rather than zeros (xorshift32). */
export function pseudoRandomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 255;
  }
  return bytes;
}

// The same timing loop in Python: warm up, then median of ~1 s of batches.
const PYTHON = `
import json, sys, time, zlib
data = open(sys.argv[1], "rb").read()
batch = 200
for _ in range(batch): zlib.adler32(data)
times = []
end = time.perf_counter() + 1.0
while time.perf_counter() < end:
    t = time.perf_counter()
    for _ in range(batch): zlib.adler32(data)
    times.append((time.perf_counter() - t) / batch)
times.sort()
print(json.dumps({"gbps": len(data) / times[len(times) // 2] / 1e9, "sum": zlib.adler32(data)}))
`;

/** Times adler32() in this process as the Python script times zlib. */
function timeDeno(data: Uint8Array): { gbps: number; sum: number } {
  const batch = 200;
  let sink = 0;
  for (let i = 0; i < batch * 5; i++) sink ^= adler32(data);
  const times: number[] = [];
  const end = performance.now() + 1000;
  while (performance.now() < end) {
    const t = performance.now();
    for (let i = 0; i < batch; i++) sink ^= adler32(data);
    times.push((performance.now() - t) / 1000 / batch);
  }
  if (sink === 0.5) console.error("unreachable"); // keeps the calls from being dropped
  return { gbps: data.length / median(times) / 1e9, sum: adler32(data) };
}

async function runJson(command: string, args: string[]): Promise<{ gbps: number; sum: number }> {
  const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!output.success) {
    throw new Error(`${command} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

/**
 * Alternates the two implementations over the same bytes, each in a fresh process.
 *
 * @param rounds How many pairs.
 * @returns Speeds and the median ratio.
 * @throws {Error} If python3 is missing or the checksums differ.
 */
export async function measureAdler(rounds: number): Promise<AdlerResult> {
  // The child may read only this file, and Deno grants a read under /dev (TMPDIR=/dev/shm,
  // as for the throughput floods) only with all permissions: 64 KiB read once a process
  // gains nothing from memory, so such a TMPDIR is replaced with /tmp here.
  const underDev = Deno.env.get("TMPDIR")?.startsWith("/dev/") ?? false;
  const file = await Deno.makeTempFile({
    prefix: "udpeer-adler-",
    ...(underDev ? { dir: "/tmp" } : {}),
  });
  try {
    await Deno.writeFile(file, pseudoRandomBytes(ADLER_BYTES));
    const results: AdlerRound[] = [];
    for (let round = 0; round < rounds; round++) {
      const deno = await runJson(Deno.execPath(), [
        "run",
        "--quiet",
        `--config=${repoDir}deno.json`,
        "--allow-read",
        `${repoDir}bench/adler.ts`,
        "--time",
        file,
      ]);
      const zlib = await runJson("python3", ["-c", PYTHON, file]);
      if (deno.sum !== zlib.sum) {
        throw new Error(`adler32 ${deno.sum} differs from zlib's ${zlib.sum}`);
      }
      results.push({ deno: deno.gbps, zlib: zlib.gbps });
    }
    return {
      rounds: results,
      deno: median(results.map((r) => r.deno)),
      zlib: median(results.map((r) => r.zlib)),
      cpu: cpuModel(),
      ratio: median(results.map((r) => r.deno / r.zlib)),
    };
  } finally {
    await Deno.remove(file).catch(() => {});
  }
}

if (import.meta.main) {
  const timeIndex = Deno.args.indexOf("--time");
  if (timeIndex >= 0) {
    console.log(JSON.stringify(timeDeno(await Deno.readFile(Deno.args[timeIndex + 1]!))));
  } else {
    console.log(JSON.stringify(await measureAdler(numberFlag(Deno.args, "--rounds", 3))));
  }
}
