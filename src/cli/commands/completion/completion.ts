/** `completion bash|zsh|fish|powershell`: shell completion scripts, generated from the option tables. */
import type { ParsedArgs } from "../../args.ts";
import type { CommandContext, Env } from "../context.ts";
import { COMMANDS } from "../registry.ts";
import { usageError } from "../../errors.ts";

const NAME = "agent-runner-auth";
const flagsOf = (name: string) => (COMMANDS.find((c) => c.name === name)?.options ?? []).map((o) => `--${o.name}`);
const VALUES: Record<string, string[]> = { store: ["keychain", "pass", "file"], scope: ["user", "project", "local"] };

export function bash(): string {
  const cases = COMMANDS.map((c) => `    ${c.name}) opts="${flagsOf(c.name).join(" ")}${c.name === "setup" ? " claude claude-desktop" : c.name === "completion" ? " bash zsh fish powershell" : c.name === "move-store" ? " keychain pass file" : ""}" ;;`).join("\n");
  return `# bash completion for ${NAME}
_${NAME.replaceAll("-", "_")}() {
  local cur prev cmd opts
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  cmd="\${COMP_WORDS[1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${COMMANDS.map((c) => c.name).join(" ")} --help --version" -- "$cur") )
    return
  fi
  case "$prev" in
${Object.entries(VALUES).map(([k, v]) => `    --${k}) COMPREPLY=( $(compgen -W "${v.join(" ")}" -- "$cur") ); return ;;`).join("\n")}
  esac
  case "$cmd" in
${cases}
    *) opts="" ;;
  esac
  COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
}
complete -F _${NAME.replaceAll("-", "_")} ${NAME}
`;
}

export function zsh(): string {
  const commands = COMMANDS.map((c) => `    '${c.name}:${c.summary.replaceAll("'", "")}'`).join("\n");
  const cases = COMMANDS.map(
    (c) =>
      `    ${c.name}) _arguments ${c.options.map((o) => `'--${o.name}${o.kind === "flag" ? "" : "=[" + o.description.replaceAll("'", "").replaceAll("]", ")").replaceAll("[", "(") + "]:" + (o.valueName ?? "value") + (VALUES[o.name] ? ":(" + VALUES[o.name]!.join(" ") + ")" : ":")}${o.kind === "flag" ? "[" + o.description.replaceAll("'", "").replaceAll("]", ")").replaceAll("[", "(") + "]" : ""}'`).join(" ")} ;;`,
  );
  return `#compdef ${NAME}
_${NAME.replaceAll("-", "_")}() {
  local -a commands
  commands=(
${commands}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  case "$words[2]" in
${cases.join("\n")}
  esac
}
compdef _${NAME.replaceAll("-", "_")} ${NAME}
`;
}

export function fish(): string {
  const lines = [`# fish completion for ${NAME}`, `complete -c ${NAME} -f`];
  for (const c of COMMANDS) {
    lines.push(`complete -c ${NAME} -n __fish_use_subcommand -a ${c.name} -d '${c.summary.replaceAll("'", "\\'")}'`);
    for (const o of c.options) {
      const values = VALUES[o.name] ? ` -a '${VALUES[o.name]!.join(" ")}'` : "";
      lines.push(`complete -c ${NAME} -n '__fish_seen_subcommand_from ${c.name}' -l ${o.name}${o.kind === "flag" ? "" : " -r"}${values} -d '${o.description.replaceAll("'", "\\'")}'`);
    }
  }
  return lines.join("\n") + "\n";
}

export function powershell(): string {
  const table = COMMANDS.map((c) => `    '${c.name}' = @(${flagsOf(c.name).map((f) => `'${f}'`).join(", ")})`).join("\n");
  return `# PowerShell completion for ${NAME}: add to your $PROFILE
Register-ArgumentCompleter -Native -CommandName '${NAME}', '${NAME}.exe' -ScriptBlock {
  param($wordToComplete, $commandAst, $cursorPosition)
  $options = @{
${table}
  }
  $words = $commandAst.CommandElements | ForEach-Object { $_.ToString() }
  if ($words.Count -le 1 -or ($words.Count -eq 2 -and $wordToComplete -ne '')) {
    $candidates = $options.Keys
  } else {
    $candidates = $options[$words[1]]
  }
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
