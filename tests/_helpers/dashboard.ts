/**
 * The queries of the Grafana dashboard deploy/grafana/udpeer.json, with the labels each
 * panel expects of its series: the last sentence of every panel's description says them
 * (`Series labels: observer, peer.`). For the tests that check the dashboard, statically
 * and against a live Prometheus.
 *
 * @example
 * ```ts ignore
 * import { dashboardQueries } from "./dashboard.ts";
 * for (const { title, expr, labels } of await dashboardQueries()) console.log(title, expr, labels);
 * ```
 *
 * @module
 */

import { repoDir } from "./testing.ts";

/** Where the dashboard is. */
export const DASHBOARD_PATH = `${repoDir}deploy/grafana/udpeer.json`;

/** One query of one panel. */
export interface PanelQuery {
  /** The panel's id. */
  id: number;
  /** The panel's title. */
  title: string;
  /** The panel's type: `table` (a matrix: instant query) or `state-timeline` (range). */
  type: string;
  /** The query's refId. */
  refId: string;
  /** The PromQL, with no template variable in it. */
  expr: string;
  /** Whether Grafana runs it as an instant query (else over the time range). */
  instant: boolean;
  /** The labels each of its series has, exactly (the metric name aside). */
  labels: string[];
}

/**
 * Reads the dashboard's JSON.
 *
 * @returns The parsed dashboard.
 */
export async function loadDashboard(): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(DASHBOARD_PATH));
}

/**
 * Every query of every panel, with the labels its description promises.
 *
 * @returns The queries in panel order.
 * @throws {Error} If a panel's description does not end with its series labels.
 */
export async function dashboardQueries(): Promise<PanelQuery[]> {
  const dashboard = await loadDashboard();
  const queries: PanelQuery[] = [];
  for (const panel of dashboard.panels as Record<string, unknown>[]) {
    const description = String(panel.description ?? "");
    const match = description.match(/Series labels: ([a-z_]+(?:, [a-z_]+)*)\.$/);
    if (match === null) {
      throw new Error(`panel ${panel.id} does not end its description with "Series labels: …."`);
    }
    for (const target of panel.targets as Record<string, unknown>[]) {
      queries.push({
        id: panel.id as number,
        title: panel.title as string,
        type: panel.type as string,
        refId: target.refId as string,
        expr: target.expr as string,
        instant: target.instant === true,
        labels: match[1]!.split(", "),
      });
    }
  }
  return queries;
}
