/**
 * Fault injection for the specs that prove a crash at a chosen moment loses
 * nothing: `POLYALIGN_FAULT=<name>` makes the named point throw (a crash there,
 * as far as the files on disk can tell). A no-op otherwise.
 */
export function faultPoint(name: string): void {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  if (env?.POLYALIGN_FAULT === name) throw new Error(`fault injected at ${name} (POLYALIGN_FAULT)`);
}
