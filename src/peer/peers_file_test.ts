import assert from "node:assert/strict";
import { StartupError, UsageError } from "../common/errors.ts";
import { RAW_CONTROL } from "../common/escape.ts";
import {
  diffPeers,
  loadPeersFile,
  MAX_PEERS,
  MAX_PEERS_FILE_BYTES,
  parsePeersFile,
  type PeerEntry,
  QUOTED_CHARACTERS,
} from "./peers_file.ts";

Deno.test("parsePeersFile() reads targets, names, comments and blank lines", () => {
  const cases: { text: string; want: PeerEntry[] }[] = [
    { text: "", want: [] },
    { text: "\n\n   \n# only a comment\n", want: [] },
    { text: "10.0.0.1:5005", want: [{ host: "10.0.0.1", port: 5005, line: 1 }] },
    {
      text: "10.0.0.1:5005 web-1\n",
      want: [{ host: "10.0.0.1", port: 5005, name: "web-1", line: 1 }],
    },
    {
      text: "# hosts\n\n  10.0.0.1:5005\tweb-1   # rack 3\nhost.example:6000 db.eu/2\r\n",
      want: [
        { host: "10.0.0.1", port: 5005, name: "web-1", line: 3 },
        { host: "host.example", port: 6000, name: "db.eu/2", line: 4 },
      ],
    },
    {
      text: "10.0.0.1:5005#comment right after\n10.0.0.2:1 zürich_1@b+c\n",
      want: [
        { host: "10.0.0.1", port: 5005, line: 1 },
        { host: "10.0.0.2", port: 1, name: "zürich_1@b+c", line: 2 },
      ],
    },
  ];
  for (const { text, want } of cases) {
    assert.deepEqual(parsePeersFile(text, "hosts.txt"), want, JSON.stringify(text));
  }
});

Deno.test("parsePeersFile() names the file, the line and the problem of a bad line", () => {
  const cases: { text: string; message: string }[] = [
    {
      text: "10.0.0.1:5005\n10.0.0.2\n",
      message: 'hosts.txt:2: Cannot parse target: "10.0.0.2" has no port (write HOST:PORT)',
    },
    {
      text: "# c\n10.0.0.1:70000 a\n",
      message: 'hosts.txt:2: Cannot parse target: "70000" is not a port in 1..65535',
    },
    {
      text: "10.0.0.1:0\n",
      message: 'hosts.txt:1: Cannot parse target: "0" is not a port in 1..65535',
    },
    {
      text: ":5005\n",
      message:
        'hosts.txt:1: Cannot parse target: ":5005" needs an IPv4 address or a name before the port',
    },
    {
      text: "\n\n10.0.0.1:5005 web 1\n",
      message:
        'hosts.txt:3: expected HOST:PORT [NAME], found 3 fields in "10.0.0.1:5005 web 1" (a name has no spaces; start a comment with #)',
    },
    {
      text: '10.0.0.1:5005 "web"\n',
      message: `hosts.txt:1: Cannot use name ""web"": use letters, digits and . _ - @ / + only`,
    },
    {
      text: "10.0.0.1:5005 a\x1b[2J\n",
      message: 'hosts.txt:1: Cannot use name "a\\x1b[2J": use letters, digits and . _ - @ / + only',
    },
    {
      text: `10.0.0.1:5005 ${"n".repeat(65)}\n`,
      message: `hosts.txt:1: Cannot use name "${"n".repeat(65)}": it is longer than 64 characters`,
    },
    {
      text: "10.0.0.1:5005 web\n10.0.0.2:5005 web\n",
      message: 'hosts.txt:2: name "web" is already used on line 1; names must be unique',
    },
    {
      text: "10.0.0.1:5005 a\n# x\n10.0.0.1:5005 b\n",
      message: "hosts.txt:3: target 10.0.0.1:5005 is already listed on line 1",
    },
  ];
  for (const { text, message } of cases) {
    assert.throws(() => parsePeersFile(text, "hosts.txt"), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.message, message);
      return true;
    });
  }
});

Deno.test("diffPeers() starts added targets, stops removed ones and keeps the rest by HOST:PORT", () => {
  const before = parsePeersFile("a:1 one\nb:2 two\nc:3\n", "f");
  const after = parsePeersFile("c:3 three\nd:4\nb:2 two\n", "f");
  const diff = diffPeers(before, after);
  assert.deepEqual(diff.added, [{ host: "d", port: 4, line: 2 }]);
  assert.deepEqual(diff.removed, [{ host: "a", port: 1, name: "one", line: 1 }]);
  assert.deepEqual(diff.kept, [
    { host: "c", port: 3, name: "three", line: 1 },
    { host: "b", port: 2, name: "two", line: 3 },
  ]);
  assert.deepEqual(diff.renamed, [{ target: "c:3", from: null, to: "three" }]);
  assert.deepEqual(diffPeers(after, after), { added: [], removed: [], kept: after, renamed: [] });
  assert.deepEqual(diffPeers([], after).added, after);
  assert.deepEqual(diffPeers(before, []).removed, before);
});

Deno.test("loadPeersFile() reads a file and says in one line why it cannot", async () => {
  const dir = await Deno.makeTempDir({ prefix: "udpeer-peers-" });
  try {
    await Deno.writeTextFile(`${dir}/hosts.txt`, "10.0.0.1:5005 a\n");
    assert.deepEqual(await loadPeersFile(`${dir}/hosts.txt`), [
      { host: "10.0.0.1", port: 5005, name: "a", line: 1 },
    ]);
    const cases: [string, string][] = [
      [`${dir}/missing.txt`, `Cannot read --peers "${dir}/missing.txt": no such file`],
    ];
    for (const [path, message] of cases) {
      await assert.rejects(loadPeersFile(path), (error: unknown) => {
        assert.ok(error instanceof StartupError);
        assert.equal(error.message, message);
        return true;
      });
    }
    await Deno.writeTextFile(`${dir}/bad.txt`, "10.0.0.1\n");
    await assert.rejects(loadPeersFile(`${dir}/bad.txt`), UsageError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The one-line UsageError that `loadPeersFile(path)` must throw, within `withinMs`. */
async function refused(path: string, withinMs = 5_000): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) =>
    timer = setTimeout(
      () => reject(new Error(`${path}: not refused within ${withinMs} ms`)),
      withinMs,
    )
  );
  try {
    await Promise.race([loadPeersFile(path), timeout]);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    assert.doesNotMatch(error.message, /\n/);
    assert.doesNotMatch(error.message, RAW_CONTROL);
    return error.message;
  } finally {
    clearTimeout(timer);
  }
  throw new Error(`${path} was read as a peers file`);
}

Deno.test("loadPeersFile() refuses at once, unopened, what is not a regular file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "udpeer-peers-" });
  try {
    assert.equal(
      await refused(dir),
      `Cannot read --peers "${dir}": it is a folder, not a regular file`,
    );
    // /dev/zero never ends: read whole, it grew memory without bound.
    assert.equal(
      await refused("/dev/zero"),
      'Cannot read --peers "/dev/zero": it is a character device, not a regular file',
    );
    // A FIFO with no writer: opening it blocks until someone writes; refused unopened.
    const fifo = `${dir}/fifo`;
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(made.success, "mkfifo");
    assert.equal(
      await refused(fifo),
      `Cannot read --peers "${fifo}": it is a FIFO, not a regular file`,
    );
    // Through a symlink, too: stat follows it.
    await Deno.symlink(fifo, `${dir}/link`);
    assert.match(await refused(`${dir}/link`), /it is a FIFO, not a regular file$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadPeersFile() never quotes a /proc file such as /proc/self/environ, which stats as empty", async () => {
  const dir = await Deno.makeTempDir({ prefix: "udpeer-peers-" });
  try {
    await Deno.symlink("/proc/self/environ", `${dir}/hosts.txt`);
    const message = await refused(`${dir}/hosts.txt`);
    assert.equal(
      message,
      `Cannot read --peers "${dir}/hosts.txt": it is a file of /proc, not a regular file`,
    );
    for (const [name, value] of Object.entries(Deno.env.toObject())) {
      if (value.length >= 4) assert.ok(!message.includes(value), `the value of ${name} leaked`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadPeersFile() reads a file of 10 MB and refuses one byte more, and NUL bytes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "udpeer-peers-" });
  const path = `${dir}/hosts.txt`;
  try {
    const comment = "# " + "x".repeat(MAX_PEERS_FILE_BYTES - 16) + "\n";
    await Deno.writeTextFile(path, `10.0.0.1:1 a\n${comment}`);
    assert.equal((await Deno.stat(path)).size, MAX_PEERS_FILE_BYTES);
    assert.deepEqual(await loadPeersFile(path), [{
      host: "10.0.0.1",
      port: 1,
      name: "a",
      line: 1,
    }]);
    await Deno.writeTextFile(path, "#", { append: true });
    assert.equal(
      await refused(path),
      `Cannot read --peers "${path}": it is 10,000,001 bytes; a peers file has at most 10,000,000 bytes`,
    );
    await Deno.writeTextFile(path, "10.0.0.1:1 a\n\0\n");
    assert.equal(
      await refused(path),
      `Cannot read --peers "${path}": it holds NUL bytes: it is not a text file`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** `count` distinct targets, one a line: 10.x.y.z:5005. */
function manyTargets(count: number): string {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) lines.push(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}:5005`);
  return lines.join("\n") + "\n";
}

Deno.test("parsePeersFile() takes 65,536 targets and refuses the 65,537th by its line", () => {
  assert.equal(parsePeersFile(manyTargets(MAX_PEERS), "hosts.txt").length, MAX_PEERS);
  assert.throws(() => parsePeersFile(`# many\n${manyTargets(MAX_PEERS + 1)}`, "hosts.txt"), {
    name: "UsageError",
    message: "hosts.txt:65538: more than 65,536 targets; a peers file lists at most as many",
  });
});

Deno.test("loadPeersFile() lets timers run while it parses a large file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "udpeer-peers-" });
  try {
    await Deno.writeTextFile(`${dir}/hosts.txt`, manyTargets(MAX_PEERS));
    // A timer chain, as the peer's receive loop and its checker are: each tick is one
    // macrotask, so it runs only where the parse yields.
    let ticks = 0;
    let longestMs = 0;
    let last = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = (): void => {
      const now = performance.now();
      longestMs = Math.max(longestMs, now - last);
      last = now;
      ticks++;
      timer = setTimeout(tick, 0);
    };
    timer = setTimeout(tick, 0);
    let peers: PeerEntry[];
    try {
      peers = await loadPeersFile(`${dir}/hosts.txt`);
    } finally {
      clearTimeout(timer);
    }
    assert.equal(peers.length, MAX_PEERS);
    // Read whole at once and parsed in one step, it let the timer run once or twice.
    assert.ok(ticks >= 10, `${ticks} timer ticks during the parse`);
    // The bound is loose: the tests share the machine. docs/reliability.md has the figure.
    assert.ok(longestMs < 250, `the loop was held ${longestMs.toFixed(1)} ms`);
    console.log(`65,536 targets: ${ticks} ticks, longest hold ${longestMs.toFixed(1)} ms`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parsePeersFile() quotes a line escaped and shortened, never raw or whole", () => {
  const cases: { text: string; message: string }[] = [
    {
      text: "127.0.0.1:5006 b\n# c\n\x1b[2J\x1b]0;pwned\x07:5005\n",
      message:
        'hosts.txt:3: Cannot parse target "\\x1b[2J\\x1b]0;pwned\\x07:5005": write HOST:PORT, HOST an IPv4 address or a name of letters, digits, . - _',
    },
    {
      text: `${"a".repeat(300)}:5005\n`,
      message: `hosts.txt:1: Cannot parse target "${
        "a".repeat(QUOTED_CHARACTERS)
      }…": write HOST:PORT, HOST an IPv4 address or a name of letters, digits, . - _`,
    },
    {
      text: `${"a".repeat(100)}\n`,
      message: `hosts.txt:1: Cannot parse target "${
        "a".repeat(QUOTED_CHARACTERS)
      }…": write HOST:PORT, HOST an IPv4 address or a name of letters, digits, . - _`,
    },
    {
      text: `10.0.0.1:5005 ${"\u202e".repeat(1_000_000)}\n`,
      message: `hosts.txt:1: Cannot use name "${
        "\\u{202e}".repeat(QUOTED_CHARACTERS)
      }…": use letters, digits and . _ - @ / + only`,
    },
    {
      text: `10.0.0.1:5005 a b ${"c".repeat(1_000_000)}\n`,
      message: `hosts.txt:1: expected HOST:PORT [NAME], found 4 fields in "10.0.0.1:5005 a b ${
        "c".repeat(QUOTED_CHARACTERS - 18)
      }…" (a name has no spaces; start a comment with #)`,
    },
  ];
  for (const { text, message } of cases) {
    assert.throws(() => parsePeersFile(text, "hosts.txt"), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.message, message);
      assert.doesNotMatch(error.message, RAW_CONTROL);
      return true;
    });
  }
});

Deno.test("parsePeersFile() reads IPv6 targets in brackets, one key per address however written", () => {
  const text = "[::1]:5005 six\n[2001:DB8:0:0::1]:5006\n10.0.0.1:5005 four # dual\n";
  assert.deepEqual(parsePeersFile(text, "hosts.txt"), [
    { host: "::1", port: 5005, name: "six", line: 1 },
    { host: "2001:db8::1", port: 5006, line: 2 },
    { host: "10.0.0.1", port: 5005, name: "four", line: 3 },
  ]);
  const cases: { text: string; message: string }[] = [
    {
      text: "[::1]:5005\n[0:0::1]:5005\n",
      message: "hosts.txt:2: target [::1]:5005 is already listed on line 1",
    },
    {
      text: "::1:5005\n",
      message:
        'hosts.txt:1: Cannot parse target: "::1:5005" holds an IPv6 address: write an IPv6 address in brackets, as in [2001:db8::1]:5005',
    },
    {
      text: "[::1]\n",
      message: 'hosts.txt:1: Cannot parse target: "[::1]" has no port (write [IPV6]:PORT)',
    },
    {
      text: "[fd00::zz]:5005\n",
      message:
        'hosts.txt:1: Cannot parse target: "fd00::zz" is not an IPv6 address (like 2001:db8::1)',
    },
  ];
  for (const { text, message } of cases) {
    assert.throws(() => parsePeersFile(text, "hosts.txt"), { message }, JSON.stringify(text));
  }
  const diff = diffPeers(
    parsePeersFile("[::1]:5005 a\n[::2]:5005\n", "f"),
    parsePeersFile("[0::2]:5005\n[::3]:5005\n", "f"),
  );
  assert.deepEqual(diff.added.map((p) => p.host), ["::3"]);
  assert.deepEqual(diff.removed.map((p) => p.host), ["::1"]);
  assert.deepEqual(diff.kept.map((p) => p.host), ["::2"]);
});
