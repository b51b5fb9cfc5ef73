/**
 * What the heartbeat peer reports, by concern: the events and their builders
 * (`events/types.ts`), their human lines (`events/human.ts`), their `--json` lines
 * (`events/json.ts`) and the summary (`events/summary.ts`). This module gathers them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatEvent } from "./events.ts";
 * assert.equal(formatEvent({ event: "sent", to: "127.0.0.1:5006", seq: 1, bytes: 79 }), undefined);
 * ```
 *
 * @module
 */

export * from "./events/types.ts";
export * from "./events/human.ts";
export * from "./events/json.ts";
export * from "./events/summary.ts";
