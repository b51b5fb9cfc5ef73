/**
 * `udpeer completions bash|zsh|fish`: prints a script that teaches the shell udpeer's
 * subcommands, their flags and the values of flags with a fixed list (`--mode`,
 * `--timestamp-unit`). The flags, their choices and whether they take a file come from the
 * subcommands' flag tables (see ../common/flags.ts), handed in by main.ts, so a row added to
 * a table is completed with no edit here.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { completionScript } from "./run.ts";
 * const peer = {
 *   name: "peer",
 *   help: "Peer.",
 *   flags: [
 *     { long: "port", short: "p", value: "N", help: ["port"] },
 *     { long: "quiet", help: ["quiet"] },
 *   ],
 * };
 * const script = completionScript("bash", [peer]);
 * assert.match(script, /complete -F _udpeer udpeer/);
 * assert.match(script, /--port --quiet/);
 * ```
 *
 * @module
 */

import { type FlagDoc, flagDoc, parseHelp, type SubcommandDoc } from "../common/helptext.ts";
import { COMPLETIONS_COMMAND, type CompletionsOptions, type Shell, SHELLS } from "./flags.ts";

/** A flag as the completion scripts need it. */
export interface CompletionFlag {
  /** Long name without dashes. */
  long: string;
  /** Short form without the dash, if any. */
  short: string | undefined;
  /** The value's name, or undefined for a switch. */
  value: string | undefined;
  /** The values it takes when they are a fixed list, else empty. */
  choices: string[];
  /** Whether its value is a file name. */
  file: boolean;
  /** Whether it may be given more than once. */
  repeatable: boolean;
  /** The first line of its description. */
  description: string;
}

/** A subcommand as the completion scripts need it. */
export interface CompletionCommand {
  /** Its name. */
  name: string;
  /** What it is, in a few words. */
  description: string;
  /** Its flags. */
  flags: CompletionFlag[];
  /** The words it takes that are not flags (the shell of `completions`), if any. */
  words: string[];
}

/**
 * Gathers what the scripts complete: each subcommand given, then `completions` and `help`.
 * The first subcommand is the one that runs when none is named.
 *
 * @param subcommands The subcommands with their help texts and flag tables.
 * @returns Every subcommand with its flags and words.
 */
export function completionCommands(subcommands: readonly SubcommandDoc[]): CompletionCommand[] {
  const commands = [...subcommands, COMPLETIONS_COMMAND].map((command): CompletionCommand => {
    return {
      name: command.name,
      description: parseHelp(command.help).summary.replace(/:.*$/, ""),
      flags: command.flags.map((flag) => ({
        long: flag.long,
        short: flag.short,
        value: flag.value,
        choices: [...flag.choices ?? []],
        file: flag.file === true,
        repeatable: flag.repeatable === true,
        description: shortDescription(flagDoc(flag)),
      })),
      words: command.name === "completions" ? [...SHELLS] : [],
    };
  });
  commands.push({
    name: "help",
    description: "Help of udpeer or of one subcommand",
    flags: [],
    words: commands.map((command) => command.name),
  });
  return commands;
}

/**
 * A flag's description in a few words, for the menu beside it: its help text up to the first
 * parenthesis, semicolon or full stop, at most {@linkcode DESCRIPTION_CHARS} characters.
 *
 * @param flag The flag.
 * @returns The short description.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shortDescription } from "./run.ts";
 * const lines = [
 *   { text: "address written into the header (default: chosen per", nested: false },
 *   { text: "target)", nested: false },
 * ];
 * assert.equal(shortDescription({ long: "a", short: undefined, value: "A", lines }), "address written into the header");
 * ```
 */
export function shortDescription(flag: FlagDoc): string {
  const text = flag.lines.filter((line) => !line.nested).map((line) => line.text).join(" ");
  const cut = text.split(/ \(|; |\. |:$/)[0]!.replace(/[.:,]$/, "");
  if (cut.length <= DESCRIPTION_CHARS) return cut;
  return `${cut.slice(0, cut.lastIndexOf(" ", DESCRIPTION_CHARS - 1))} …`;
}

/** The longest description beside a flag in a completion menu. */
export const DESCRIPTION_CHARS = 60;

/**
 * The completion script for `shell`.
 *
 * @param shell bash, zsh or fish.
 * @param subcommands The subcommands with their help texts and flag tables.
 * @returns The script, ending in a newline.
 */
export function completionScript(shell: Shell, subcommands: readonly SubcommandDoc[]): string {
  const commands = completionCommands(subcommands);
  switch (shell) {
    case "bash":
      return bashScript(commands);
    case "zsh":
      return zshScript(commands);
    case "fish":
      return fishScript(commands);
  }
}

/** A word in single quotes for sh, bash, zsh and fish alike. */
function quote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** fish does not end a single-quoted word at `\'`, so it quotes a quote differently. */
function fishQuote(text: string): string {
  return `'${text.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

function bashScript(commands: CompletionCommand[]): string {
  const names = commands.map((command) => command.name).join(" ");
  const cases = commands.map((command) => {
    const valueCases = command.flags.filter((flag) => flag.value !== undefined).map((flag) => {
      const pattern = [flag.short && `-${flag.short}`, `--${flag.long}`].filter(Boolean).join("|");
      const action = flag.file
        ? `compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur"))`
        : flag.choices.length > 0
        ? `COMPREPLY=($(compgen -W ${quote(flag.choices.join(" "))} -- "$cur"))`
        : ":"; // a value to type, nothing to offer
      return `        ${pattern}) ${action}; return ;;`;
    });
    const flags = command.flags.map((flag) => `--${flag.long}`).join(" ");
    const offer = command.words.length > 0
      ? `      if [[ $cur == -* ]]; then words=${quote(flags)}; else words=${
        quote(command.words.join(" "))
      }; fi`
      : `      words=${quote(flags)}`;
    return [
      `    ${command.name})`,
      ...(valueCases.length > 0 ? ["      case $prev in", ...valueCases, "      esac"] : []),
      offer,
      "      ;;",
    ].join("\n");
  });
  return `# bash completion for udpeer, written by 'udpeer completions bash'.
# Install: udpeer completions bash > ~/.local/share/bash-completion/completions/udpeer
_udpeer() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev= sub=${commands[0]!.name} words
  (( COMP_CWORD > 0 )) && prev=\${COMP_WORDS[COMP_CWORD-1]}
  # bash splits --flag=value at "=" (COMP_WORDBREAKS): complete the value all the same.
  if [[ $cur == "=" ]]; then
    cur=
  elif [[ $prev == "=" ]] && (( COMP_CWORD > 1 )); then
    prev=\${COMP_WORDS[COMP_CWORD-2]}
  fi
  COMPREPLY=()
  if (( COMP_CWORD > 1 )); then
    case \${COMP_WORDS[1]} in
      ${commands.map((command) => command.name).join("|")}) sub=\${COMP_WORDS[1]} ;;
    esac
  elif [[ $cur != -* ]]; then
    COMPREPLY=($(compgen -W ${quote(names)} -- "$cur"))
    return
  fi
  case $sub in
${cases.join("\n")}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _udpeer udpeer
`;
}

/** Text for inside `[…]` of a zsh `_arguments` spec, where brackets and colons are syntax. */
function zshText(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("[", "\\[").replaceAll("]", "\\]")
    .replaceAll(":", "\\:");
}

function zshScript(commands: CompletionCommand[]): string {
  const described = commands.map((command) =>
    quote(`${command.name}:${command.description.replaceAll(":", "\\:")}`)
  );
  const cases = commands.map((command) => {
    const specs = command.flags.map((flag) => {
      const names = flag.short ? `{-${flag.short},--${flag.long}}` : `--${flag.long}`;
      const exclusive = flag.repeatable
        ? quote("*")
        : flag.short
        ? quote(`(-${flag.short} --${flag.long})`)
        : "";
      const value = flag.value === undefined
        ? ""
        : `:${zshText(flag.value)}:${
          flag.file ? "_files" : flag.choices.length > 0 ? `(${flag.choices.join(" ")})` : " "
        }`;
      return `${exclusive}${names}${quote(`[${zshText(flag.description)}]${value}`)}`;
    });
    if (command.words.length > 0) {
      specs.push(
        quote(`1:${command.name === "help" ? "subcommand" : "shell"}:(${command.words.join(" ")})`),
      );
    }
    return `    ${command.name})\n      _arguments -s -S \\\n        ${
      specs.join(" \\\n        ")
    }\n      ;;`;
  });
  return `#compdef udpeer
# zsh completion for udpeer, written by 'udpeer completions zsh'.
# Install: udpeer completions zsh > ~/.zfunc/_udpeer, with fpath+=(~/.zfunc) before compinit.
_udpeer() {
  local -a subcommands
  subcommands=(${described.join(" ")})
  local sub=${commands[0]!.name}
  if (( CURRENT == 2 )) && [[ $words[2] != -* ]]; then
    _describe -t subcommands 'udpeer subcommand' subcommands
    return
  fi
  if [[ $words[2] == (${commands.map((command) => command.name).join("|")}) ]]; then
    sub=$words[2]
    words=($words[1] $words[3,-1])
    (( CURRENT-- ))
  fi
  case $sub in
${cases.join("\n")}
  esac
}
if [[ $funcstack[1] == _udpeer ]]; then
  _udpeer "$@"
else
  compdef _udpeer udpeer
fi
`;
}

function fishScript(commands: CompletionCommand[]): string {
  const names = commands.map((command) => command.name).join(" ");
  const lines = commands.flatMap((command) => {
    const when = `-n ${fishQuote(`test (__udpeer_subcommand) = ${command.name}`)}`;
    const subcommand = `complete -c udpeer -n __fish_use_subcommand -a ${command.name} -d ${
      fishQuote(command.description)
    }`;
    const flags = command.flags.map((flag) => {
      const value = flag.value === undefined
        ? ""
        : flag.file
        ? " -r -F"
        : flag.choices.length > 0
        ? ` -x -a ${fishQuote(flag.choices.join(" "))}`
        : " -x";
      const short = flag.short ? ` -s ${flag.short}` : "";
      return `complete -c udpeer ${when}${short} -l ${flag.long}${value} -d ${
        fishQuote(flag.description)
      }`;
    });
    const words = command.words.length > 0
      ? [`complete -c udpeer ${when} -a ${fishQuote(command.words.join(" "))}`]
      : [];
    return [subcommand, ...flags, ...words];
  });
  return `# fish completion for udpeer, written by 'udpeer completions fish'.
# Install: udpeer completions fish > ~/.config/fish/completions/udpeer.fish
function __udpeer_subcommand
    set -l words (commandline -opc)
    if set -q words[2]; and contains -- $words[2] ${names}
        echo $words[2]
    else
        echo ${commands[0]!.name}
    end
end
complete -c udpeer -f
${lines.join("\n")}
`;
}

/**
 * Prints the completion script the options ask for.
 *
 * @param options The parsed options, with a shell.
 * @param subcommands The subcommands with their help texts and flag tables.
 * @returns 0.
 */
export async function runCompletions(
  options: CompletionsOptions & { shell: Shell },
  subcommands: readonly SubcommandDoc[],
): Promise<number> {
  const bytes = new TextEncoder().encode(completionScript(options.shell, subcommands));
  for (let written = 0; written < bytes.length;) {
    written += await Deno.stdout.write(bytes.subarray(written));
  }
  return 0;
}
