import { expect, test } from "bun:test";
import { AlertsConfigError, parseAlertsConfig } from "./config.ts";

const SECRET = "0123456789abcdef0123456789abcdef";
const files: Record<string, string> = { "/run/secrets/alerts": `${SECRET}\n`, "/short": "abc" };
const read = (path: string) => {
  const text = files[path];
  if (text === undefined) throw Object.assign(new Error("no such file"), { code: "ENOENT" });
  return text;
};
const parse = (value: unknown) => parseAlertsConfig(value, 'tenant "acme": alerts', read);
const refusal = (value: unknown) => {
  try {
    parse(value);
  } catch (e) {
    expect(e).toBeInstanceOf(AlertsConfigError);
    return (e as Error).message;
  }
  throw new Error("expected a refusal");
};

test("the issue's shape, with defaults: thresholds 0.5/0.8/1.0, json; the secret read from its file", () => {
  expect(parse({ webhook: "https://hooks.example.com/agent-runner?token=x", secretFile: "/run/secrets/alerts" })).toEqual({
    webhook: "https://hooks.example.com/agent-runner?token=x",
    webhookOrigin: "https://hooks.example.com",
    secret: SECRET,
    thresholds: [0.5, 0.8, 1.0],
    format: "json",
  });
  expect(parse({ webhook: "https://hooks.slack.com/services/T/B/X", format: "slack", thresholds: [0.9, 0.75, 0.9] })).toMatchObject({ format: "slack", thresholds: [0.75, 0.9] });
});

test("refused with what to do", () => {
  expect(refusal({ webhook: "http://hooks.example.com/x", secretFile: "/run/secrets/alerts" })).toContain("must use https://");
  expect(refusal({ webhook: "https://h.example/x" })).toBe('tenant "acme": alerts.secretFile is required with the json format: receivers check the X-Agent-Runner-Signature it keys');
  expect(refusal({ webhook: "https://h.example/x", secretFile: "/short" })).toBe('tenant "acme": alerts.secretFile: the secret in /short is shorter than 16 bytes (make one with: openssl rand -hex 32)');
  expect(refusal({ webhook: "https://h.example/x", secretFile: "/missing" })).toBe('tenant "acme": alerts.secretFile: cannot read /missing (ENOENT)');
  expect(refusal({ webhook: "https://h.example/x", format: "teams" })).toContain('format must be "json" or "slack"');
  expect(refusal({ webhook: "https://h.example/x", format: "slack", thresholds: [0] })).toContain("thresholds must be");
  expect(refusal({ webhook: "https://h.example/x", format: "slack", hook: 1 })).toBe('tenant "acme": alerts.hook is not a field here (expected webhook, secretFile, thresholds or format)');
  expect(refusal("https://h.example/x")).toContain("must be an object");
});

test("a loopback webhook may be plain http (the local tenant, tests)", () => {
  expect(parse({ webhook: "http://127.0.0.1:9000/hook", secretFile: "/run/secrets/alerts" }).webhookOrigin).toBe("http://127.0.0.1:9000");
});
