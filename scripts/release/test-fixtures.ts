/** Made-up release metadata and checksums for the renderers' unit tests. */
import { archiveName, TARGETS, type ReleaseMeta } from "./context.ts";

export const META: ReleaseMeta = { version: "9.8.7", description: "Test description", sourceDateEpoch: "1767225600" }; // 2026-01-01
export const sums = new Map(TARGETS.map((t, i) => [archiveName(META.version, t), `${"abcdef"[i]}${i}`.repeat(32)]));
export const LICENSE = "MIT License\n\nCopyright (c) 2026 copebit AG\n\nPermission is hereby granted\n";
