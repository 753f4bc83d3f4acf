/**
 * Ports a test listens on by number (registered redirect ports, metrics ports): picked below the
 * kernel's ephemeral range (32768-60999 here), so the outgoing connections of the many processes
 * a suite starts never happen to hold one of them.
 */
const LOW = 20000;
const HIGH = 32700;

/** `count` consecutive ports starting at a random base in [20000, 32700). */
export function portBlock(count = 1): number[] {
  const base = LOW + Math.floor(Math.random() * (HIGH - LOW - count));
  return Array.from({ length: count }, (_, i) => base + i);
}

export const randomPort = (): number => portBlock(1)[0]!;
