/**
 * How to run this CLI again: the compiled binary's absolute path, or, when running from source,
 * the Bun executable and this entry point (both absolute: Claude Code does not expand `~`).
 */
export function selfCommand(): string[] {
  const main = Bun.main;
  const compiled = main.startsWith("/$bunfs/") || /^[A-Z]:\\~BUN\\/i.test(main) || main.startsWith("B:/~BUN/");
  return compiled ? [process.execPath] : [process.execPath, main];
}
