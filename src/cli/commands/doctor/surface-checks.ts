/**
 * `doctor`: where this runs (a container, SSH, WSL: which sign-in will work, surfaces/where-am-i.ts)
 * and Claude Desktop's configuration when its library exists (surfaces/desktop-config.ts).
 */
import type { CommandContext } from "../../context.ts";
import type { Check } from "./check.ts";
import { commandFor, type Profile } from "../../config.ts";
import { detectPlace } from "../../surfaces/where-am-i.ts";
import { checkDesktopEntry } from "../../surfaces/desktop-config.ts";
import { desktopPlace, desktopSettings, type DesktopPlaceFiles } from "../../surfaces/desktop-place.ts";
import type { Platform } from "../../surfaces/ports.ts";

export interface SurfaceFacts extends DesktopPlaceFiles {
  platform: Platform;
  osRelease: string | null;
}

export function placeCheck(ctx: Pick<CommandContext, "env" | "profileName">, profile: Profile | null, facts: SurfaceFacts): Check {
  const ports = (profile?.redirectUris ?? []).map((u) => Number(new URL(u).port)).filter((p) => p > 0);
  const place = detectPlace({ env: ctx.env, platform: facts.platform, exists: facts.exists, osRelease: facts.osRelease, callbackPorts: ports, loginCommand: commandFor("login", ctx.profileName) });
  if (place.kind === "local") return { name: "sign-in here", verdict: "pass", detail: "a local session: the browser sign-in reaches the loopback callback" };
  return { name: "sign-in here", verdict: place.loopbackWorks ? "pass" : "warn", detail: `${place.kind} (${place.signals.join(", ")}): ${place.advice[0] ?? ""}`, fix: place.advice.slice(1).join(" ") };
}

export function desktopCheck(ctx: Pick<CommandContext, "env" | "self" | "profileName">, profile: Profile | null, facts: SurfaceFacts): Check | null {
  let place;
  try {
    place = desktopPlace(ctx, facts, facts.platform, ctx.profileName);
  } catch {
    return null; // no Claude Desktop on this platform, or a run from source
  }
  if (!facts.exists(place.library.dir)) return null;
  if (!profile?.tenant) return { name: "claude desktop", verdict: "skip", detail: "no tenant URL to compare with" };
  try {
    const problems = checkDesktopEntry(place.library, ctx.profileName, desktopSettings(profile, place.alias.path), facts.exists);
    if (problems.length === 0) return { name: "claude desktop", verdict: "pass", detail: `${place.library.dir}: the applied configuration uses this tenant through ${place.alias.path}` };
    const [first, ...more] = problems;
    return { name: "claude desktop", verdict: "warn", detail: first! + (more.length > 0 ? ` (and ${more.length} more: ${more.join(" ")})` : ""), fix: commandFor("setup claude-desktop", ctx.profileName) };
  } catch (e) {
    return { name: "claude desktop", verdict: "fail", detail: (e as Error).message, fix: commandFor("setup claude-desktop", ctx.profileName) };
  }
}
