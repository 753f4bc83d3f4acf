/** `completion bash|zsh|fish|powershell`: shell completion scripts, generated from the option tables. */
import type { ParsedArgs } from "../../args.ts";
import type { CommandContext, Env } from "../../context.ts";
import { COMMAND_GROUPS, COMMANDS } from "../registry.ts";
import type { OptionSpec } from "../../args.ts";
import { usageError } from "../../errors.ts";

const NAME = "agent-runner-auth";
const FN = `_${NAME.replaceAll("-", "_")}`;
const flagsOf = (name: string) => (COMMANDS.find((c) => c.name === name)?.options ?? []).map((o) => `--${o.name}`);
/** An option's fixed values, from its value name ("bare|desktop|headers"), across every command. */
const VALUES: Record<string, string[]> = Object.fromEntries(
  COMMANDS.flatMap((c) => c.options)
    .filter((o) => o.kind !== "flag" && /^[a-z][a-z-]*(\|[a-z][a-z-]*)+$/.test(o.valueName ?? ""))
    .map((o) => [o.name, o.valueName!.split("|")] as const)
    .reverse(), // the first command's wins
);
/** Positional words a command takes. */
const POSITIONALS: Record<string, string[]> = { setup: ["claude", "claude-desktop"], completion: ["bash", "zsh", "fish", "powershell"], "move-store": ["keychain", "pass", "file"] };

/** The words after the program name, up to the first option: "" at the top, "admin", "admin budget", "admin budget set"... */
const TOP_LEVEL = [...new Set(COMMANDS.map((c) => c.name.split(" ")[0]!))];
/** Each group's next words ("admin" -> usage budget limit ...), from the command names. */
function groupChildren(): Map<string, string[]> {
  const children = new Map<string, string[]>();
  for (const c of COMMANDS) {
    const words = c.name.split(" ");
    for (let i = 1; i < words.length; i++) {
      const prefix = words.slice(0, i).join(" ");
      const list = children.get(prefix) ?? [];
      if (!list.includes(words[i]!)) list.push(words[i]!);
      children.set(prefix, list);
    }
  }
  return children;
}
/** Commands, longest names first (a group's command before the group). */
const byLength = () => [...COMMANDS].sort((a, b) => b.name.split(" ").length - a.name.split(" ").length);
const description = (text: string) => text.replaceAll("'", "").replaceAll("]", ")").replaceAll("[", "(");

export function bash(): string {
  // A command that takes a word (setup claude|claude-desktop) offers it first; options once "-" is typed or it is given.
  const commandCases = byLength().map((c) =>
    POSITIONALS[c.name]
      ? `    "${c.name}") if [[ "$cur" == -* ]]; then opts="${flagsOf(c.name).join(" ")}"; else opts="${POSITIONALS[c.name]!.join(" ")}"; fi ;;\n    "${c.name} "*) opts="${flagsOf(c.name).join(" ")}" ;;`
      : `    "${c.name}"|"${c.name} "*) opts="${flagsOf(c.name).join(" ")}" ;;`,
  );
  const groupCases = [...groupChildren()].map(([group, words]) => `    "${group}") opts="${words.join(" ")}" ;;`);
  return `# bash completion for ${NAME}
${FN}() {
  local cur prev cmdpath opts i w
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${TOP_LEVEL.join(" ")} --help --version" -- "$cur") )
    return
  fi
  case "$prev" in
${Object.entries(VALUES).map(([k, v]) => `    --${k}) COMPREPLY=( $(compgen -W "${v.join(" ")}" -- "$cur") ); return ;;`).join("\n")}
  esac
  # the command's words ("admin budget set"), up to the first option
  cmdpath=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in -*) break ;; esac
    cmdpath="\${cmdpath:+$cmdpath }$w"
  done
  case "$cmdpath" in
${[...groupCases, ...commandCases].join("\n")}
    *) opts="" ;;
  esac
  COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
}
complete -F ${FN} ${NAME}
`;
}

export function zsh(): string {
  const top = TOP_LEVEL.map((name) => {
    const c = COMMANDS.find((x) => x.name === name);
    const summary = c?.summary ?? COMMAND_GROUPS.find((g) => g.name === name)?.summary ?? "";
    return `    '${name}:${summary.replaceAll("'", "")}'`;
  });
  const option = (o: OptionSpec) =>
    `'--${o.name}${o.kind === "flag" ? `[${description(o.description)}]` : `=[${description(o.description)}]:${o.valueName ?? "value"}:${VALUES[o.name] ? `(${VALUES[o.name]!.join(" ")})` : ""}`}'`;
  const commandCases = byLength().map((c) => `    "${c.name}"|"${c.name} "*) _arguments ${c.options.map(option).join(" ")} ;;`);
  const groupCases = [...groupChildren()].map(([group, words]) => `    "${group}") _values 'command' ${words.join(" ")} ;;`);
  return `#compdef ${NAME}
${FN}() {
  local -a commands w
  local x cmdpath
  commands=(
${top.join("\n")}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  # the command's words ("admin budget set"), up to the first option
  w=()
  for x in "\${(@)words[2,CURRENT-1]}"; do
    [[ $x == -* ]] && break
    w+=("$x")
  done
  cmdpath="\${(j: :)w}"
  case "$cmdpath" in
${[...groupCases, ...commandCases].join("\n")}
  esac
}
compdef ${FN} ${NAME}
`;
}

export function fish(): string {
  const at = (pattern: string) => `'__${NAME.replaceAll("-", "_")}_path | string match -qr -- "${pattern}"'`;
  const lines = [
    `# fish completion for ${NAME}`,
    `complete -c ${NAME} -f`,
    `# the command's words ("admin budget set"), up to the first option`,
    `function __${NAME.replaceAll("-", "_")}_path`,
    `  set -l words (commandline -opc)`,
    `  set -e words[1]`,
    `  set -l out`,
    `  for w in $words`,
    `    string match -q -- '-*' $w; and break`,
    `    set out $out $w`,
    `  end`,
    `  echo (string join ' ' $out)`,
    `end`,
  ];
  for (const name of TOP_LEVEL) {
    const summary = COMMANDS.find((x) => x.name === name)?.summary ?? COMMAND_GROUPS.find((g) => g.name === name)?.summary ?? "";
    lines.push(`complete -c ${NAME} -n ${at("^$")} -a ${name} -d '${summary.replaceAll("'", "\\'")}'`);
  }
  for (const [group, words] of groupChildren()) lines.push(`complete -c ${NAME} -n ${at(`^${group}$`)} -a '${words.join(" ")}'`);
  for (const c of COMMANDS) {
    const here = at(`^${c.name}( |$)`);
    if (POSITIONALS[c.name]) lines.push(`complete -c ${NAME} -n ${here} -a '${POSITIONALS[c.name]!.join(" ")}'`);
    for (const o of c.options) {
      const values = VALUES[o.name] ? ` -a '${VALUES[o.name]!.join(" ")}'` : "";
      lines.push(`complete -c ${NAME} -n ${here} -l ${o.name}${o.kind === "flag" ? "" : " -r"}${values} -d '${o.description.replaceAll("'", "\\'")}'`);
    }
  }
  return lines.join("\n") + "\n";
}

export function powershell(): string {
  const table = [
    ...COMMANDS.map((c) => `    '${c.name}' = @(${[...flagsOf(c.name), ...(POSITIONALS[c.name] ?? [])].map((f) => `'${f}'`).join(", ")})`),
    ...[...groupChildren()].map(([group, words]) => `    '${group}' = @(${words.map((w) => `'${w}'`).join(", ")})`),
  ].join("\n");
  return `# PowerShell completion for ${NAME}: add to your $PROFILE
Register-ArgumentCompleter -Native -CommandName '${NAME}', '${NAME}.exe' -ScriptBlock {
  param($wordToComplete, $commandAst, $cursorPosition)
  $options = @{
${table}
  }
  $topLevel = @(${TOP_LEVEL.map((n) => `'${n}'`).join(", ")})
  $words = @($commandAst.CommandElements | ForEach-Object { $_.ToString() })
  # the command's words ('admin budget set'), up to the first option, without the word being completed
  $last = if ($wordToComplete -ne '') { $words.Count - 1 } else { $words.Count }
  $path = @()
  for ($i = 1; $i -lt $last; $i++) {
    if ($words[$i] -like '-*') { break }
    $path += $words[$i]
  }
  $key = $path -join ' '
  while ($key -ne '' -and -not $options.ContainsKey($key)) { $key = (($key -split ' ') | Select-Object -SkipLast 1) -join ' ' }
  $candidates = if ($key -eq '') { $topLevel } else { $options[$key] }
  $candidates | Where-Object { $_ -like "$wordToComplete*" } | Sort-Object | ForEach-Object {
    [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
  }
}
`;
}

const SHELLS: Record<string, () => string> = { bash, zsh, fish, powershell };

export interface CompletionOptions {
  render: () => string;
}

export function parseOptions(args: ParsedArgs, _env: Env): CompletionOptions {
  const [shell, ...rest] = args.positionals;
  const render = shell && Object.hasOwn(SHELLS, shell) ? SHELLS[shell] : undefined;
  if (!render || rest.length > 0) throw usageError("usage: agent-runner-auth completion bash|zsh|fish|powershell", "For example: agent-runner-auth completion bash > ~/.local/share/bash-completion/completions/agent-runner-auth");
  return { render };
}

export async function run(ctx: CommandContext, options: CompletionOptions): Promise<number> {
  ctx.stdout(options.render());
  return 0;
}
