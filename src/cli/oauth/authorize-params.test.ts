import { describe, expect, test } from "bun:test";
import { authorizeParams } from "./authorize-params.ts";

describe("authorizeParams", () => {
  test("a plain pool gets nothing extra", () => {
    expect(authorizeParams({ profile: {} })).toEqual({});
  });
  test("identity_provider wins over idp_identifier; login_hint is passed", () => {
    expect(authorizeParams({ profile: { identityProvider: "ExampleCorp", idpIdentifier: "example.com", loginHint: "alice@example.com" } })).toEqual({ identity_provider: "ExampleCorp", login_hint: "alice@example.com" });
    expect(authorizeParams({ profile: { idpIdentifier: "example.com" } })).toEqual({ idp_identifier: "example.com" });
  });
  test("prompt=login after a logout and on --switch-user only", () => {
    expect(authorizeParams({ profile: { loggedOut: true } })).toEqual({ prompt: "login" });
    expect(authorizeParams({ profile: {}, switchUser: true })).toEqual({ prompt: "login" });
    expect(authorizeParams({ profile: { loggedOut: false } })).toEqual({});
  });
});
