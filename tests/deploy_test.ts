/**
 * Tests of the deployment files in deploy/: Prometheus's own `promtool` checks the scrape
 * config and the alert rules and runs their unit tests (deploy/prometheus/rules_test.yml);
 * `systemd-analyze verify` checks the service unit. Without the tool a test is skipped with
 * a message saying `skipped:` and why (`.ci/run` installs both).
 *
 * @example Run these tests alone
 * ```sh
 * deno test --allow-run --allow-read --allow-write deploy_test.ts
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import { parsePeerArgs } from "../src/peer/flags.ts";
import { PERMISSIONS } from "../scripts/permissions.ts";
import { repoDir } from "./_helpers/testing.ts";

const prometheusDir = `${repoDir}deploy/prometheus/`;
const unitPath = `${repoDir}deploy/systemd/udpeer.service`;

/** Runs a command to completion; `undefined` if it is not installed. */
async function run(
  command: string,
  args: string[],
  cwd: string = Deno.cwd(),
): Promise<{ success: boolean; output: string; stderr: string } | undefined> {
  try {
    const { success, stdout, stderr } = await new Deno.Command(command, {
      args,
      cwd,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const decoder = new TextDecoder();
    const err = decoder.decode(stderr);
    return { success, output: decoder.decode(stdout) + err, stderr: err };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

async function skipReason(
  command: string,
  args: string[],
  install: string,
): Promise<string | undefined> {
  const result = await run(command, args);
  if (result === undefined) return `${command} is not installed (${install}; .ci/run installs it)`;
  return result.success ? undefined : `${command} ${args.join(" ")} failed: ${result.output}`;
}

const noPromtool = await skipReason("promtool", ["--version"], "apt-get install prometheus");
if (noPromtool) console.log(`skipped: deploy_test.ts promtool checks: ${noPromtool}`);
const noSystemd = await skipReason("systemd-analyze", ["--version"], "apt-get install systemd");
if (noSystemd) console.log(`skipped: deploy_test.ts systemd unit check: ${noSystemd}`);

Deno.test({
  name: "promtool accepts the shipped scrape config and alert rules",
  ignore: noPromtool !== undefined,
  fn: async () => {
    const rules = await run("promtool", ["check", "rules", "udpeer_rules.yml"], prometheusDir);
    assert.ok(rules?.success, rules?.output);
    assert.match(rules!.output, /SUCCESS: 10 rules found/);
    const config = await run("promtool", ["check", "config", "prometheus.yml"], prometheusDir);
    assert.ok(config?.success, config?.output);
  },
});

Deno.test({
  name: "promtool test rules passes for the alert rules' unit tests",
  ignore: noPromtool !== undefined,
  fn: async () => {
    const result = await run("promtool", ["test", "rules", "rules_test.yml"], prometheusDir);
    assert.ok(result?.success, result?.output);
    assert.match(result!.output, /SUCCESS/);
  },
});

/**
 * Runs the shipped unit tests against a changed copy of the rules: they must fail.
 *
 * @param change Turns the rules' text into the broken rules.
 * @returns promtool's output.
 */
async function testBrokenRules(change: (rules: string) => string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "udpeer-rules-" });
  try {
    const rules = await Deno.readTextFile(`${prometheusDir}udpeer_rules.yml`);
    const broken = change(rules);
    assert.notEqual(broken, rules);
    await Deno.writeTextFile(`${dir}/udpeer_rules.yml`, broken);
    await Deno.copyFile(`${prometheusDir}rules_test.yml`, `${dir}/rules_test.yml`);
    const result = await run("promtool", ["test", "rules", "rules_test.yml"], dir);
    assert.equal(result?.success, false, result?.output);
    return result!.output;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "promtool test rules fails when the host-down alert loses its one-minute wait",
  ignore: noPromtool !== undefined,
  fn: async () => {
    const output = await testBrokenRules((rules) =>
      rules.replace(/(alert: UdpeerHostDown\n(?:.*\n)*?\s+)for: 1m/, "$1for: 0s")
    );
    assert.match(output, /alertname: UdpeerHostDown, time: 1m15s/);
  },
});

Deno.test({
  name: "promtool test rules fails when the delay mean uses rate(), which misreads negative delays",
  ignore: noPromtool !== undefined,
  fn: async () => {
    // _sum goes down when the peer's clock is ahead: rate() takes that for a counter reset.
    const output = await testBrokenRules((rules) =>
      rules.replaceAll("delta(udpeer_one_way_delay_seconds_", "rate(udpeer_one_way_delay_seconds_")
    );
    assert.match(output, /udpeer:clock_offset_seconds/);
  },
});

Deno.test({
  name: "promtool test rules fails when the loss alert also fires during an outage",
  ignore: noPromtool !== undefined,
  fn: async () => {
    const output = await testBrokenRules((rules) =>
      rules.replace(" and on(observer, peer) udpeer:peer_up == 1", "")
    );
    assert.match(output, /alertname: UdpeerPacketLoss/);
  },
});

Deno.test({
  name: "systemd-analyze verify accepts the service unit without a warning",
  ignore: noSystemd !== undefined,
  fn: async () => {
    const unit = await Deno.readTextFile(unitPath);
    // verify checks that ExecStart's program exists: point it at this machine's deno.
    const dir = await Deno.makeTempDir({ prefix: "udpeer-unit-" });
    try {
      await Deno.writeTextFile(
        `${dir}/udpeer.service`,
        unit.replaceAll("/usr/bin/deno", Deno.execPath()),
      );
      const result = await run("systemd-analyze", ["verify", `${dir}/udpeer.service`]);
      assert.ok(result?.success, result?.output);
      // Unknown keys and bad values are only warnings: there must be none about our unit.
      // verify also reads the units installed beside it (Debian's irtt.service warns about
      // User=nobody), so only the lines that name our file count.
      const ours = result!.stderr.split("\n").filter((line) => line.includes(dir));
      assert.deepEqual(ours, []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the service unit restarts on failure, reloads with SIGHUP and may read its peers file", async () => {
  const unit = await Deno.readTextFile(unitPath);
  const value = (key: string): string | undefined =>
    unit.match(new RegExp(`^${key}=(.*)$`, "m"))?.[1];
  assert.equal(value("Restart"), "on-failure");
  assert.equal(value("RestartPreventExitStatus"), "2");
  assert.equal(value("ExecReload"), "/bin/kill -HUP $MAINPID");
  assert.equal(value("DynamicUser"), "yes");
  const execStart = unit.match(/^ExecStart=((?:.*\\\n)*.*)$/m)?.[1]?.replace(/\\\n\s*/g, "");
  assert.ok(execStart !== undefined);
  const readable = execStart.match(/--allow-read=(\S+)/)?.[1];
  const peers = execStart.match(/--peers (\S+)/)?.[1];
  assert.ok(readable && peers?.startsWith(`${readable}/`), `${peers} is not inside ${readable}`);
  assert.equal(`/etc/${value("ConfigurationDirectory")}`, readable);
  // The permissions are udpeer's own list, the read one narrowed to the folder.
  const granted = execStart.match(/--allow-[\w-]+(=\S+)?/g)!.map((flag) =>
    flag.startsWith("--allow-read=") ? "--allow-read" : flag
  );
  assert.deepEqual(granted, [...PERMISSIONS]);
  // What follows main.ts is a command line the peer accepts.
  const args = execStart.split(/\s+/);
  const options = parsePeerArgs(args.slice(args.findIndex((arg) => arg.endsWith("main.ts")) + 1));
  assert.equal(options.peersFile, peers);
  assert.deepEqual(options.metrics, { hostname: "0.0.0.0", port: 15005 });
  assert.equal(options.quiet, true);
});
