import assert from "node:assert/strict";
import { StartupError, UsageError } from "../common/errors.ts";
import { diffPeers, loadPeersFile, parsePeersFile, type PeerEntry } from "./peers_file.ts";

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
  assert.deepEqual(diffPeers(after, after), { added: [], removed: [], kept: after });
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
      [dir, `Cannot read --peers "${dir}": it is a folder, not a file`],
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
