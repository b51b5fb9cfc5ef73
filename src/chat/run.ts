/**
 * `udpeer chat`: the classic interactive client (see docs/serve-and-chat.md). It reads lines from stdin, sends
 * each to the server and prints the reply. Over UDP a line with no reply in time is sent
 * again, each wait half as long again as the one before; over TCP (`--tcp`) nothing is sent
 * twice and the client waits the sum of those timeouts. This module wires the parts: stdin,
 * the session (`udp.ts`, `tcp.ts`), the output and the signals.
 *
 * @example
 * ```ts ignore
 * import { parseChatArgs } from "./flags.ts";
 * import { runChat } from "./run.ts";
 * const code = await runChat(parseChatArgs(["--to", "127.0.0.1:12000"])); // reads stdin
 * ```
 *
 * @module
 */

import { formatEndpoint } from "../common/endpoint.ts";
import { jsonLine } from "../common/escape.ts";
import { decodeText, LineSplitter, stripCr } from "../common/lines.ts";
import { resolveTo } from "../common/net.ts";
import { LineWriter, print } from "../common/output.ts";
import { onStopSignals } from "../common/signals.ts";
import { type ChatEmit, type ChatEvent, formatChatEvent } from "./events.ts";
import type { ChatOptions } from "./flags.ts";
import type { ChatContext, Session } from "./session.ts";
import { openTcp } from "./tcp.ts";
import { openUdp } from "./udp.ts";

const encoder = new TextEncoder();

/**
 * Runs the client until `exit`, end of input or a signal (exit 0), or until the server does
 * not answer a line (exit 1).
 *
 * @param options Parsed command line.
 * @returns The exit code: 0, or 1 if the server does not answer.
 * @throws {StartupError} If the name does not resolve or no local socket can be opened.
 */
export async function runChat(options: ChatOptions): Promise<number> {
  const label = formatEndpoint(options.to);
  const address = await resolveTo(options.to.host, options.ipv6 ? "ipv6" : "ipv4");
  const interactive = Deno.stdin.isTerminal();
  let stopped = false;
  let wake: (() => void) | undefined;
  let session: Session | undefined;
  const stop = (): void => {
    stopped = true;
    wake?.();
    session?.close(); // ends a wait for a reply at once
  };
  const out = new LineWriter(Deno.stdout, { onClosed: stop });
  const escape = Deno.stdout.isTerminal();
  const emit = printer(options, out, { interactive, escape, retries: options.retries, label });
  const counters = { resent: 0, ignored: 0 };
  const context: ChatContext = { options, address, label, emit, stopped: () => stopped, counters };

  const removeSignalListeners = onStopSignals(stop);
  let result = { code: 0, lines: 0, replies: 0 };
  try {
    session = options.tcp ? await openTcp(context) : openUdp(context);
    if (stopped) return 0;
    emit({ event: "connected", to: label, transport: session.transport });
    if (interactive && !options.json) {
      out.line(
        `udpeer chat: each line goes to ${label} over ${session.transport.toUpperCase()}; 'exit' or Ctrl-D to quit`,
      );
    }
    const nextLine = stdinReader(() => stopped, (resolve) => wake = resolve);
    result = await converse(context, session, out, nextLine, interactive);
  } finally {
    removeSignalListeners();
    session?.close();
  }
  emit({ event: "summary", lines: result.lines, replies: result.replies, ...counters });
  await out.flush();
  return result.code;
}

/** Prints an event as JSON, or in its human form on stdout and stderr. */
function printer(
  options: ChatOptions,
  out: LineWriter,
  view: Parameters<typeof formatChatEvent>[1],
): ChatEmit {
  return (event: ChatEvent): void => {
    if (options.json) return out.line(jsonLine(event));
    print(formatChatEvent(event, view), out);
  };
}

/**
 * The next line of stdin, or undefined at end of input or on a stop (`onWait` is given the
 * function that ends the wait).
 */
function stdinReader(
  stopped: () => boolean,
  onWait: (wake: () => void) => void,
): () => Promise<string | undefined> {
  const lines = stdinLines();
  return async () => {
    if (stopped()) return undefined;
    const stoppedSignal = new Promise<"stopped">((resolve) => onWait(() => resolve("stopped")));
    const next = await Promise.race([lines.next(), stoppedSignal]);
    return next === "stopped" || next.done ? undefined : next.value;
  };
}

/**
 * Sends each line of input and prints its reply, until the end or `exit`. A line the server
 * does not answer ends a piped session with exit code 1; at a terminal it is said, and the
 * prompt comes back for the next line.
 */
async function converse(
  context: ChatContext,
  session: Session,
  out: LineWriter,
  nextLine: () => Promise<string | undefined>,
  interactive: boolean,
): Promise<{ code: number; lines: number; replies: number }> {
  const { options, label, emit } = context;
  let lines = 0;
  let replies = 0;
  while (!context.stopped()) {
    if (interactive && !options.json) await prompt(out);
    const line = await nextLine();
    if (line === undefined) {
      if (interactive) out.line(""); // the shell prompt starts on a new line
      break;
    }
    if (line === "exit") break; // " exit " is text to send, as any other line
    if (line === "") continue;
    const tooLong = session.tooLong(line);
    if (tooLong !== undefined) {
      emit({ event: "error", message: tooLong });
      continue;
    }
    lines++;
    const outcome = await session.exchange(line);
    if (outcome.kind === "stopped") break;
    if (outcome.kind === "no-answer") {
      emit({ event: "no-answer", to: label, tries: outcome.tries, waitedMs: outcome.waitedMs });
      await out.flush();
      console.error(`udpeer: The server at ${label} does not answer (${outcome.detail})`);
      if (interactive) continue;
      return { code: 1, lines, replies };
    }
    replies++;
    if (out.full) await out.drained();
  }
  return { code: 0, lines, replies };
}

async function prompt(out: LineWriter): Promise<void> {
  await out.flush();
  if (out.closed) return;
  try {
    await Deno.stdout.write(encoder.encode("> "));
  } catch { /* the terminal went away; the next line write notices */ }
}

/**
 * Reads stdin as lines (without `\n` or `\r\n`), decoding UTF-8 with replacement; a byte
 * order mark at the very start of input is not text (editors on Windows write one).
 */
async function* stdinLines(): AsyncGenerator<string> {
  const splitter = new LineSplitter(Infinity);
  let first = true;
  const decode = (line: Uint8Array): string => {
    const text = decodeText(stripCr(line)[0]);
    const start = first && text.startsWith("\uFEFF") ? 1 : 0;
    first = false;
    return text.slice(start);
  };
  for await (const chunk of Deno.stdin.readable) {
    for (const line of splitter.push(chunk) ?? []) yield decode(line);
  }
  if (splitter.pending > 0) yield decode(splitter.rest());
}
