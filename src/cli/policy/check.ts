/**
 * `admin policy check FILE`: the policy file validated offline, with the parser and rules the
 * gateway uses (src/shared/policy). Valid: a confirmation with the policy's hash (and any
 * warnings) on stderr, or JSON on stdout; invalid: a usage error (exit 2) whose message is the
 * one problem (file:line: member: what is wrong), or, for several, one line per problem on
 * stderr (or JSON on stdout) and a message counting them.
 */
import { usageError } from "../errors.ts";
import { sanitizeForTerminal as cell } from "../terminal-text.ts";
import { issueLine, PolicyError, type PolicyIssue } from "../../shared/policy/errors.ts";
import { parsePolicyText } from "../../shared/policy/parse.ts";
import { policyHash, shortHash } from "../../shared/policy/canonical.ts";
import type { PolicyCheckRequest } from "./parse-command.ts";

export interface PolicyCheckPorts {
  /** The file's text, null when it does not exist. */
  readText(path: string): string | null;
  stdout(text: string): void;
  say(line: string): void;
}

export interface PolicyCheckResult {
  file: string;
  valid: boolean;
  hash?: string;
  groups?: string[];
  default?: boolean;
  warnings: PolicyIssue[];
  errors: PolicyIssue[];
}

function read(ports: PolicyCheckPorts, file: string): string {
  let text: string | null;
  try {
    text = ports.readText(file);
  } catch (e) {
    throw usageError(`cannot read the policy file ${cell(file)}: ${cell((e as Error).message)}`);
  }
  if (text === null) throw usageError(`no policy file at ${cell(file)}`);
  return text;
}

/** Checks the file; returns 0, or throws a usage error (exit 2) after printing every problem. */
export function checkPolicy(ports: PolicyCheckPorts, request: PolicyCheckRequest): number {
  const text = read(ports, request.file);
  let result: PolicyCheckResult;
  try {
    const { policy, warnings } = parsePolicyText(text, request.file);
    result = { file: request.file, valid: true, hash: policyHash(policy), groups: Object.keys(policy.groups ?? {}), default: policy.default !== undefined, warnings, errors: [] };
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    result = { file: request.file, valid: false, warnings: [], errors: [...e.issues] };
    if (request.json) ports.stdout(JSON.stringify(result, null, 2) + "\n");
    const lines = e.lines();
    if (lines.length === 1) throw usageError(cell(lines[0]!));
    if (!request.json) for (const line of lines) ports.say(cell(line));
    throw usageError(`${cell(request.file)} is not a valid policy: ${lines.length} problems${request.json ? "" : " (above)"}`);
  }
  if (request.json) {
    ports.stdout(JSON.stringify(result, null, 2) + "\n");
    return 0;
  }
  for (const w of result.warnings) ports.say(cell(issueLine(request.file, { ...w, member: `warning: ${w.member}` })));
  const groups = result.groups!.length;
  ports.say(`${cell(request.file)}: valid policy (${groups} group${groups === 1 ? "" : "s"}${result.default ? " and a default rule" : ", no default rule"}); hash ${shortHash(result.hash!)}`);
  return 0;
}
