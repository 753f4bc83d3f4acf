import { describe, expect, test } from "bun:test";
import { parse as parsePlist } from "plist";
import { DEFAULT_MDM_HELPER, encodeRegFile, MACOS_PREFERENCE_DOMAIN, renderMobileconfig, renderRegFile } from "./desktop-mdm.ts";

const base = { tenant: "https://acme.proxy.example.com", ttlSec: 300 };
const uuids: [string, string] = ["6f1c5e0a-1b2c-4d3e-8f40-5a6b7c8d9e0f", "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"];

describe("mobileconfig", () => {
  test("parses as a plist with the Configuration wrapper and Desktop's preference domain payload", () => {
    const text = renderMobileconfig({ ...base, helperPath: DEFAULT_MDM_HELPER.macos, uuids });
    const doc = parsePlist(text) as Record<string, unknown>;
    expect(doc).toMatchObject({ PayloadType: "Configuration", PayloadVersion: 1, PayloadUUID: uuids[0].toUpperCase(), PayloadScope: "System" });
    const [payload] = doc.PayloadContent as Record<string, unknown>[];
    expect(payload).toEqual({
      PayloadType: MACOS_PREFERENCE_DOMAIN,
      PayloadIdentifier: `com.agent-runner-auth.claude-desktop.${uuids[1].toUpperCase()}`,
      PayloadUUID: uuids[1].toUpperCase(),
      PayloadVersion: 1,
      PayloadDisplayName: "Claude Desktop gateway",
      inferenceProvider: "gateway",
      inferenceGatewayBaseUrl: "https://acme.proxy.example.com/anthropic",
      inferenceGatewayAuthScheme: "bearer",
      inferenceCredentialKind: "helper-script",
      inferenceCredentialHelper: DEFAULT_MDM_HELPER.macos,
      inferenceCredentialHelperTtlSec: 300,
    });
  });
  test("no secret-like member; XML metacharacters in values escaped and round-trip", () => {
    const text = renderMobileconfig({ ...base, helperPath: "/opt/a&b/<helper>", uuids, organisation: "com.example" });
    expect(text).not.toMatch(/ApiKey|apiKey|token/);
    const [payload] = (parsePlist(text) as { PayloadContent: Record<string, unknown>[] }).PayloadContent;
    expect(payload!.inferenceCredentialHelper).toBe("/opt/a&b/<helper>");
    // xmldom tolerates a bare "&": check the escaping itself too
    expect(text).toContain("<string>/opt/a&amp;b/&lt;helper&gt;</string>");
    expect(payload!.PayloadIdentifier).toStartWith("com.example.claude-desktop.");
  });
  test("refuses a relative helper path and characters XML cannot carry", () => {
    expect(() => renderMobileconfig({ ...base, helperPath: "bin/helper", uuids })).toThrow(TypeError);
    expect(() => renderMobileconfig({ ...base, helperPath: "/a\u0001b", uuids })).toThrow(TypeError);
  });
});

describe(".reg", () => {
  test("version 5 header, the policy key, REG_SZ strings escaped, CRLF", () => {
    const text = renderRegFile({ ...base, helperPath: DEFAULT_MDM_HELPER.windows, scope: "machine" });
    const lines = text.split("\r\n");
    expect(lines[0]).toBe("Windows Registry Editor Version 5.00");
    expect(text.replace(/\r\n/g, "")).not.toContain("\n");
    expect(lines).toContain("[HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Claude]");
    expect(lines).toContain(`"inferenceCredentialHelper"="C:\\\\Program Files\\\\agent-runner-auth\\\\agent-runner-auth-desktop-helper.exe"`);
    expect(lines).toContain(`"inferenceCredentialHelperTtlSec"="300"`);
    expect(lines).toContain(`"inferenceProvider"="gateway"`);
    expect(text).not.toMatch(/ApiKey|dword/);
    // every value line is "name"="string" with only \\ and \" escapes inside
    for (const line of lines.filter((l) => l.startsWith('"'))) expect(line).toMatch(/^"[A-Za-z]+"="(?:[^"\\]|\\[\\"])*"$/);
    expect(renderRegFile({ ...base, helperPath: DEFAULT_MDM_HELPER.windows, scope: "user" })).toContain("[HKEY_CURRENT_USER\\SOFTWARE\\Policies\\Claude]");
  });
  test("quotes escaped; line breaks and non-Windows paths refused", () => {
    expect(renderRegFile({ ...base, helperPath: 'C:\\a"b\\h.exe', scope: "machine" })).toContain(`"C:\\\\a\\"b\\\\h.exe"`);
    expect(() => renderRegFile({ ...base, helperPath: "C:\\a\r\nb.exe", scope: "machine" })).toThrow(TypeError);
    expect(() => renderRegFile({ ...base, helperPath: "/usr/local/bin/x", scope: "machine" })).toThrow(TypeError);
  });
  test("encoded as UTF-16LE with a BOM (what regedit expects of version 5 files)", () => {
    const bytes = encodeRegFile("Wé\r\n");
    expect([...bytes]).toEqual([0xff, 0xfe, 0x57, 0, 0xe9, 0, 0x0d, 0, 0x0a, 0]);
    expect(new TextDecoder("utf-16le").decode(bytes.slice(2))).toBe("Wé\r\n");
  });
});
