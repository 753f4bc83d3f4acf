/**
 * `setup claude-desktop --mdm macos|windows`: the administrator's form of the same settings, with
 * no secret in it (the helper signs each person in; there is no static key).
 *  - macOS: a configuration profile (.mobileconfig, XML plist) whose payload type is Claude
 *    Desktop's preference domain `com.anthropic.claudefordesktop` (source: anthropics/claude-code
 *    issue 54647, "Claude Desktop reads MDM preferences from the com.anthropic.claudefordesktop
 *    domain"). Unsigned: the MDM (Jamf, Intune, Kandji) signs what it pushes.
 *  - Windows: a .reg file for HKLM\SOFTWARE\Policies\Claude (machine) or HKCU (user), every value
 *    a REG_SZ string (source: aws-solutions-library-samples/guidance-for-claude-code-with-amazon-
 *    bedrock PR 334, tested on Windows: "Claude Desktop expects all values as REG_SZ strings").
 * The helper path must exist on every machine: the package installs the alias there
 * (agent-runner-auth-desktop-helper, see desktop-config.ts).
 */
import { posix, win32 } from "node:path";
import { desktopEntryMembers, type DesktopSettings } from "./desktop-config.ts";

export const MACOS_PREFERENCE_DOMAIN = "com.anthropic.claudefordesktop";
export const WINDOWS_POLICY_KEY = "SOFTWARE\\Policies\\Claude";
export const DEFAULT_MDM_HELPER = {
  macos: "/usr/local/bin/agent-runner-auth-desktop-helper",
  windows: "C:\\Program Files\\agent-runner-auth\\agent-runner-auth-desktop-helper.exe",
} as const;

const xml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
/** XML 1.0 cannot carry most C0 characters at all, even escaped. */
function assertXmlText(s: string): void {
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/.test(s)) throw new TypeError("a value holds a character a plist cannot carry");
}

function plistValue(value: string | number, indent: string): string {
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new TypeError("only integers are written");
    return `${indent}<integer>${value}</integer>`;
  }
  assertXmlText(value);
  return `${indent}<string>${xml(value)}</string>`;
}

function plistDict(members: Record<string, string | number>, indent: string): string {
  return Object.entries(members)
    .map(([k, v]) => `${indent}<key>${xml(k)}</key>\n${plistValue(v, indent)}`)
    .join("\n");
}

export interface MdmOptions extends DesktopSettings {
  /** For the payload identifiers: a reverse-DNS prefix of the organisation, e.g. com.example. */
  organisation?: string;
  /** Two fresh UUIDs (profile, payload); upper-case as Apple's tools write them. */
  uuids: [string, string];
}

export function renderMobileconfig(options: MdmOptions): string {
  if (!posix.isAbsolute(options.helperPath)) throw new TypeError("the helper path must be absolute on macOS");
  const [profileUuid, payloadUuid] = options.uuids.map((u) => u.toUpperCase());
  const prefix = (options.organisation ?? "com.agent-runner-auth").replace(/[^A-Za-z0-9.-]/g, "-");
  const host = new URL(options.tenant).host;
  const payload = {
    PayloadType: MACOS_PREFERENCE_DOMAIN,
    PayloadIdentifier: `${prefix}.claude-desktop.${payloadUuid}`,
    PayloadUUID: payloadUuid!,
    PayloadVersion: 1,
    PayloadDisplayName: "Claude Desktop gateway",
    ...desktopEntryMembers(options),
  };
  const top = {
    PayloadDisplayName: `Claude Desktop: agent-runner gateway ${host}`,
    PayloadDescription: "Points Claude Desktop (Cowork) at the company's Claude gateway; each person signs in with agent-runner-auth. Holds no secret.",
    PayloadIdentifier: `${prefix}.claude-desktop`,
    PayloadType: "Configuration",
    PayloadUUID: profileUuid!,
    PayloadVersion: 1,
    PayloadScope: "System",
  };
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">`,
    `<plist version="1.0">`,
    `<dict>`,
    `\t<key>PayloadContent</key>`,
    `\t<array>`,
    `\t\t<dict>`,
    plistDict(payload, "\t\t\t"),
    `\t\t</dict>`,
    `\t</array>`,
    plistDict(top, "\t"),
    `</dict>`,
    `</plist>`,
    ``,
  ].join("\n");
}

/** A .reg string value: backslash and quote escaped; no line breaks (regedit has no escape for them). */
function regString(value: string): string {
  if (/[\r\n\u0000]/.test(value)) throw new TypeError("a registry string value cannot hold a line break");
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

export function renderRegFile(options: DesktopSettings & { scope: "machine" | "user" }): string {
  if (!win32.isAbsolute(options.helperPath) || !/^[A-Za-z]:\\|^\\\\/.test(options.helperPath)) throw new TypeError("the helper path must be an absolute Windows path (C:\\...)");
  const hive = options.scope === "machine" ? "HKEY_LOCAL_MACHINE" : "HKEY_CURRENT_USER";
  const lines = [
    "Windows Registry Editor Version 5.00",
    "",
    "; Claude Desktop (Cowork) through the company's Claude gateway; each person signs in with agent-runner-auth. No secret here.",
    `[${hive}\\${WINDOWS_POLICY_KEY}]`,
    ...Object.entries(desktopEntryMembers(options)).map(([k, v]) => `${regString(k)}=${regString(String(v))}`),
    "",
  ];
  return lines.join("\r\n");
}

/** regedit reads version-5 files as UTF-16LE with a BOM: the bytes to write. */
export function encodeRegFile(text: string): Uint8Array {
  const bytes = new Uint8Array(2 + text.length * 2);
  bytes[0] = 0xff;
  bytes[1] = 0xfe;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    bytes[2 + i * 2] = code & 0xff;
    bytes[3 + i * 2] = code >> 8;
  }
  return bytes;
}
