import { describe, expect, test } from "bun:test";
import { platformOpenCommand } from "./browser.ts";

describe("platform details", () => {
  test("the browser opener per platform passes the URL as one argument", () => {
    const url = "https://idp/authorize?a=1&b=2";
    expect(platformOpenCommand(url, "darwin", false)).toEqual(["open", [url]]);
    expect(platformOpenCommand(url, "linux", false)).toEqual(["xdg-open", [url]]);
    expect(platformOpenCommand(url, "linux", true)).toEqual(["rundll32.exe", ["url.dll,FileProtocolHandler", url]]);
    expect(platformOpenCommand(url, "win32", false)).toEqual(["rundll32", ["url.dll,FileProtocolHandler", url]]);
  });
});
