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
import { freePort, repoDir } from "./_helpers/testing.ts";
import { runToEnd as run } from "./_helpers/process.ts";

const prometheusDir = `${repoDir}deploy/prometheus/`;
const alertmanagerConfig = `${repoDir}deploy/alertmanager/alertmanager.yml`;
const unitPath = `${repoDir}deploy/systemd/udpeer.service`;

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
const noAmtool = await skipReason(
  "amtool",
  ["--version"],
  "apt-get install prometheus-alertmanager",
);
if (noAmtool) console.log(`skipped: deploy_test.ts Alertmanager checks: ${noAmtool}`);
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
      rules.replace(/\n\s+and on\(observer, peer\)\n\s+udpeer:peer_up == 1/, "")
    );
    assert.match(output, /alertname: UdpeerPacketLoss/);
  },
});

Deno.test({
  name: "promtool test rules fails when a host that was down is a witness of loss",
  ignore: noPromtool !== undefined,
  fn: async () => {
    const output = await testBrokenRules((rules) =>
      rules.replace(/\n\s+unless on\(observer\)\n\s+label_replace\(ALERTS.*/, "")
    );
    assert.match(output, /alertname: UdpeerPacketLoss, time: 5m/);
  },
});

Deno.test({
  name: "amtool check-config accepts the shipped Alertmanager config",
  ignore: noAmtool !== undefined,
  fn: async () => {
    const result = await run("amtool", ["check-config", alertmanagerConfig]);
    assert.ok(result?.success, result?.output);
    assert.match(result!.output, /SUCCESS/);
    assert.match(result!.output, /2 inhibit rules/);
  },
});

Deno.test({
  name: "Alertmanager with the shipped config inhibits the other alerts of a host that is down",
  ignore: noAmtool !== undefined,
  sanitizeResources: false,
  fn: async () => {
    // The config alone, against the real Alertmanager: alerts as the rules label them are
    // posted to its API, and its own view says which are inhibited, by what.
    const dir = await Deno.makeTempDir({ prefix: "udpeer-alertmanager-" });
    const port = freePort("tcp");
    const child = new Deno.Command("prometheus-alertmanager", {
      args: [
        `--config.file=${alertmanagerConfig}`,
        `--storage.path=${dir}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--cluster.listen-address=",
        "--log.level=warn",
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const base = `http://127.0.0.1:${port}/api/v2`;
    try {
      const deadline = Date.now() + 20_000;
      for (;;) {
        try {
          const ready = await fetch(`http://127.0.0.1:${port}/-/ready`);
          await ready.body?.cancel();
          if (ready.ok) break;
        } catch { /* not listening yet */ }
        assert.ok(Date.now() < deadline, "Alertmanager did not become ready in 20 s");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const startsAt = new Date().toISOString();
      const alert = (labels: Record<string, string>) => ({
        labels: { job: "udpeer", ...labels },
        annotations: {},
        startsAt,
      });
      const posted = await fetch(`${base}/alerts`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify([
          // Host c is down: its link, loss and scrape alerts say it again.
          alert({ alertname: "UdpeerHostDown", severity: "page", peer: "c" }),
          alert({ alertname: "UdpeerLinkDown", severity: "page", observer: "b", peer: "c" }),
          alert({ alertname: "UdpeerPacketLoss", severity: "warning", observer: "a", peer: "c" }),
          alert({
            alertname: "UdpeerScrapeFailed",
            severity: "page",
            instance: "c:15005",
            peer: "c",
          }),
          // b -> a is cut, a itself is up: that link alert stands, and it inhibits the
          // loss alert of the same link but not another observer's.
          alert({ alertname: "UdpeerLinkDown", severity: "page", observer: "a", peer: "b" }),
          alert({ alertname: "UdpeerPacketLoss", severity: "warning", observer: "a", peer: "b" }),
          alert({ alertname: "UdpeerPacketLoss", severity: "warning", observer: "d", peer: "b" }),
          // A scrape alert of a host never named is not inhibited by a named host.
          alert({ alertname: "UdpeerScrapeFailed", severity: "page", instance: "e:15005" }),
        ]),
      });
      assert.equal(posted.status, 200, await posted.text());
      type Seen = { labels: Record<string, string>; status: { inhibitedBy: string[] } };
      const key = (a: Seen): string =>
        `${a.labels.alertname}{${a.labels.observer ?? ""}->${a.labels.peer ?? a.labels.instance}}`;
      // Inhibition is computed when the alerts are listed; give the API a moment to have all.
      let seen: Seen[] = [];
      for (let tries = 0; tries < 50 && seen.length < 8; tries++) {
        const reply = await fetch(`${base}/alerts`);
        seen = await reply.json();
        if (seen.length < 8) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const inhibited = Object.fromEntries(
        seen.map((a) => [key(a), a.status.inhibitedBy.length > 0]),
      );
      assert.deepEqual(inhibited, {
        "UdpeerHostDown{->c}": false,
        "UdpeerLinkDown{b->c}": true,
        "UdpeerPacketLoss{a->c}": true,
        "UdpeerScrapeFailed{->c}": true,
        "UdpeerLinkDown{a->b}": false,
        "UdpeerPacketLoss{a->b}": true,
        "UdpeerPacketLoss{d->b}": false,
        "UdpeerScrapeFailed{->e:15005}": false,
      });
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await child.stderr.cancel();
      await Deno.remove(dir, { recursive: true });
    }
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
