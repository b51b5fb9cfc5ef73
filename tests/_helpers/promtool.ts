/**
 * `promtool check metrics` on a scrape's text, for the tests that check udpeer's metrics
 * against the Prometheus tool itself.
 *
 * @example
 * ```ts ignore
 * import { promtoolCheck } from "./promtool.ts";
 * const { success, output } = await promtoolCheck("# TYPE up gauge\nup 1\n");
 * ```
 *
 * @module
 */

/**
 * Runs `promtool check metrics` with `text` on its standard input.
 *
 * @param text A metrics exposition.
 * @returns Whether promtool accepted it, and what it printed (stdout and stderr).
 */
export async function promtoolCheck(text: string): Promise<{ success: boolean; output: string }> {
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { success, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { success, output: decoder.decode(stdout) + decoder.decode(stderr) };
}

/**
 * Why promtool cannot run here, or undefined when it can: a test that needs it is then
 * ignored with this reason.
 */
export const promtoolMissing: string | undefined = await (async () => {
  try {
    const { success } = await new Deno.Command("promtool", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success ? undefined : "promtool --version failed";
  } catch {
    return "promtool is not installed (apt-get install prometheus; .ci/run installs it)";
  }
})();

/** One series of a Prometheus instant query's answer. */
export interface QuerySample {
  /** Its labels. */
  metric: Record<string, string>;
  /** Its value. */
  value: number;
}

/**
 * The series of a Prometheus `GET /api/v1/query` answer.
 *
 * @param promql The query (for the error).
 * @param body The answer's JSON.
 * @returns Each series with its labels and value.
 * @throws {Error} If Prometheus answered with an error.
 */
export function querySamples(promql: string, body: unknown): QuerySample[] {
  const answer = body as {
    status: string;
    data: { result: { metric: Record<string, string>; value: [number, string] }[] };
  };
  if (answer.status !== "success") throw new Error(`${promql}: ${JSON.stringify(body)}`);
  return answer.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
}
