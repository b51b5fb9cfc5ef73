/**
 * The Grafana dashboard deploy/grafana/udpeer.json, checked without Grafana (which cannot be
 * installed here): its structure against Grafana's documented dashboard JSON model, each
 * query's PromQL with `promtool check rules`, and with `promtool test rules` that each query
 * returns, from a synthetic three-peer fleet and the shipped recording rules, series with
 * exactly the labels its panel's description promises.
 *
 * @example Run these tests alone
 * ```sh
 * deno test --allow-run --allow-read --allow-write dashboard_test.ts
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import { dashboardQueries, loadDashboard } from "./_helpers/dashboard.ts";
import { repoDir } from "./_helpers/testing.ts";
import { promtoolMissing } from "./_helpers/promtool.ts";
import { runToEnd } from "./_helpers/process.ts";

const rulesPath = `${repoDir}deploy/prometheus/udpeer_rules.yml`;

if (promtoolMissing) console.log(`skipped: dashboard_test.ts promtool checks: ${promtoolMissing}`);

/** promtool with `args` in `cwd`. */
async function promtool(args: string[], cwd: string): Promise<{ ok: boolean; output: string }> {
  const result = await runToEnd("promtool", args, cwd);
  return { ok: result?.success ?? false, output: result?.output ?? "promtool is not installed" };
}

type Json = Record<string, unknown>;

Deno.test("the dashboard follows Grafana's dashboard JSON model and can be imported as it is", async () => {
  const dashboard = await loadDashboard();
  assert.equal(dashboard.id, null, "an exported dashboard has no id: Grafana gives one on import");
  assert.equal(dashboard.uid, "udpeer-fleet");
  assert.equal(typeof dashboard.title, "string");
  assert.ok(Number.isInteger(dashboard.schemaVersion) && (dashboard.schemaVersion as number) >= 36);
  assert.deepEqual(Object.keys(dashboard.time as Json).sort(), ["from", "to"]);
  // The one template variable: which Prometheus; every panel and query uses it.
  const variables = (dashboard.templating as { list: Json[] }).list;
  assert.deepEqual(
    variables.map((v) => [v.name, v.type, v.query]),
    [["datasource", "datasource", "prometheus"]],
  );
  const datasource = { type: "prometheus", uid: "${datasource}" };

  const panels = dashboard.panels as Json[];
  assert.ok(panels.length >= 7);
  const ids = panels.map((panel) => panel.id);
  assert.ok(ids.every(Number.isInteger), `ids ${ids}`);
  assert.equal(new Set(ids).size, ids.length, `ids must be unique: ${ids}`);
  const cells = new Map<string, unknown>();
  for (const panel of panels) {
    const where = `panel ${panel.id} "${panel.title}"`;
    assert.ok(typeof panel.title === "string" && panel.title !== "", where);
    assert.ok(["table", "state-timeline"].includes(panel.type as string), where);
    // gridPos: integers on Grafana's 24-column grid, no two panels on one cell.
    const { h, w, x, y } = panel.gridPos as Record<string, number>;
    assert.ok([h, w, x, y].every(Number.isInteger) && h! > 0 && w! > 0, where);
    assert.ok(x! >= 0 && x! + w! <= 24 && y! >= 0, `${where} is off the 24-column grid`);
    for (let row = y!; row < y! + h!; row++) {
      for (let column = x!; column < x! + w!; column++) {
        const key = `${row},${column}`;
        assert.ok(!cells.has(key), `${where} overlaps panel ${cells.get(key)}`);
        cells.set(key, panel.id);
      }
    }
    assert.deepEqual(panel.datasource, datasource, where);
    assert.ok(typeof (panel.fieldConfig as Json)?.defaults === "object", where);
    const targets = panel.targets as Json[];
    assert.ok(Array.isArray(targets) && targets.length > 0, `${where} has no query`);
    assert.equal(new Set(targets.map((t) => t.refId)).size, targets.length, where);
    for (const target of targets) {
      assert.deepEqual(target.datasource, datasource, where);
      assert.ok(typeof target.expr === "string" && target.expr.trim() !== "", where);
      assert.ok(!(target.expr as string).includes("$"), `${where}: no variable in a query`);
      // Tables show the value now; timelines a range.
      const table = panel.type === "table";
      assert.equal(target.instant, table, where);
      assert.equal(target.range, !table, where);
      assert.equal(target.format, table ? "table" : "time_series", where);
    }
    const matrix = (panel.transformations as Json[] | undefined)?.find((t) =>
      t.id === "groupingToMatrix"
    );
    if (matrix !== undefined) {
      // Rows observers, columns peers.
      const options = matrix.options as Json;
      assert.equal(options.rowField, "observer", where);
      assert.equal(options.columnField, "peer", where);
      assert.equal(options.valueField, "Value", where);
    }
  }
  // The matrices the issue asks for, and the up timeline.
  const exprs = panels.map((panel) => (panel.targets as Json[])[0]!.expr);
  for (
    const expr of [
      "udpeer:heartbeats_missed:ratio5m",
      "udpeer:one_way_delay_seconds:mean5m",
      "udpeer:round_trip_seconds",
      "udpeer:clock_offset_seconds",
    ]
  ) {
    const panel = panels.find((p) => (p.targets as Json[])[0]!.expr === expr);
    assert.ok(panel !== undefined, `no panel shows ${expr}`);
    assert.equal(panel.type, "table");
    assert.ok(
      (panel.transformations as Json[]).some((t) => t.id === "groupingToMatrix"),
      `${expr} is no matrix`,
    );
  }
  assert.ok(exprs.includes("avg by (peer) (udpeer:peer_up)"));
});

Deno.test("each panel says which labels its series have, and its queries use only shipped recording rules", async () => {
  const queries = await dashboardQueries();
  const rules = await Deno.readTextFile(rulesPath);
  const recorded = new Set([...rules.matchAll(/- record: (\S+)/g)].map((m) => m[1]));
  for (const query of queries) {
    for (const [name] of query.expr.matchAll(/udpeer:[a-z0-9_:]+/g)) {
      assert.ok(recorded.has(name), `panel ${query.id} uses ${name}, which no rule records`);
    }
    if (query.type === "table" && query.expr.startsWith("udpeer:")) {
      assert.deepEqual(query.labels, ["observer", "peer"], query.title);
    }
  }
});

Deno.test({
  name: "every query of the dashboard is PromQL that promtool accepts",
  ignore: promtoolMissing !== undefined,
  fn: async () => {
    const queries = await dashboardQueries();
    const dir = await Deno.makeTempDir({ prefix: "udpeer-dashboard-" });
    try {
      // JSON is YAML: one recording rule per query.
      const rules = queries.map((q) => ({
        record: `dashboard:panel_${q.id}_${q.refId}`,
        expr: q.expr,
      }));
      await Deno.writeTextFile(
        `${dir}/queries.yml`,
        JSON.stringify({ groups: [{ name: "dashboard", rules }] }),
      );
      const { ok, output } = await promtool(["check", "rules", "queries.yml"], dir);
      assert.ok(ok, output);
      assert.match(output, new RegExp(`SUCCESS: ${queries.length} rules found`));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "every query returns, from a three-peer fleet, series with exactly the labels its panel says",
  ignore: promtoolMissing !== undefined,
  fn: async () => {
    // a, b and c hear each other; c restarted later than the others. A stranger and another
    // job's process_start_time_seconds must show nowhere.
    const hosts = [["a", "10.0.0.1:5005"], ["b", "10.0.0.2:5005"], ["c", "10.0.0.3:5005"]];
    const series: { series: string; values: string }[] = [];
    const add = (name: string, labels: Record<string, string>, values: string): void => {
      const text = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(",");
      series.push({ series: `${name}{${text}}`, values });
    };
    for (const [name, address] of hosts) {
      const instance = `${name}:15005`;
      add("udpeer_info", { job: "udpeer", instance, name: name!, address: address! }, "1x40");
      add("up", { job: "udpeer", instance }, "1x40");
      add(
        "process_start_time_seconds",
        { job: "udpeer", instance },
        name === "c" ? "1700000300x40" : "1700000000x40",
      );
      for (const [peer, source] of hosts) {
        if (peer === name) continue;
        const labels = { job: "udpeer", instance, source: source!, target: source!, peer: peer! };
        add("udpeer_peer_up", labels, "1x40");
        add("udpeer_heartbeats_missed_total", labels, "0+1x40");
        add("udpeer_heartbeats_received_total", labels, "0+7x40");
        add("udpeer_one_way_delay_seconds_count", labels, "0+8x40");
        add("udpeer_one_way_delay_seconds_sum", labels, "0+0.008x40");
      }
      const stranger = { job: "udpeer", instance, source: "10.0.0.9:40000" };
      add("udpeer_peer_up", stranger, "1x40");
      add("udpeer_one_way_delay_seconds_count", stranger, "0+8x40");
      add("udpeer_one_way_delay_seconds_sum", stranger, "0+0.008x40");
    }
    add("process_start_time_seconds", { job: "prometheus", instance: "localhost:9090" }, "1x40");

    const names = hosts.map(([name]) => name!);
    const expected = (labels: string[]): { labels: string; value: number }[] => {
      const key = labels.join(",");
      const pairs = names.flatMap((o) => names.filter((p) => p !== o).map((p) => [o, p]));
      if (key === "observer,peer") {
        return pairs.map(([o, p]) => ({ labels: `{observer="${o}",peer="${p}"}`, value: 1 }));
      }
      if (key === "peer") return names.map((p) => ({ labels: `{peer="${p}"}`, value: 1 }));
      if (key === "name,address") {
        return hosts.map(([n, a]) => ({ labels: `{name="${n}",address="${a}"}`, value: 1 }));
      }
      throw new Error(`no fleet data for labels ${key}: add them to this test`);
    };
    const queries = await dashboardQueries();
    const dir = await Deno.makeTempDir({ prefix: "udpeer-dashboard-" });
    try {
      const tests = [{
        interval: "15s",
        input_series: series,
        // count without () keeps every label of every series and counts 1 for each.
        promql_expr_test: queries.map((q) => ({
          expr: `count without () (${q.expr})`,
          eval_time: "10m",
          exp_samples: expected(q.labels),
        })),
      }];
      await Deno.writeTextFile(
        `${dir}/dashboard_test.yml`,
        JSON.stringify({ rule_files: [rulesPath], evaluation_interval: "15s", tests }),
      );
      const { ok, output } = await promtool(["test", "rules", "dashboard_test.yml"], dir);
      assert.ok(ok, output);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
