/**
 * A plugin kind: an interface (what a plugin implements) and, under the same
 * name, a `PluginKind` value that carries its injection token.
 */
export interface PluginKind<T> {
  readonly name: string;
  readonly token: symbol;
  readonly description: string;
  /** Phantom field carrying the implemented type; never set. */
  readonly __type?: () => T;
}

export function defineKind<T>(name: string, description: string): PluginKind<T> {
  return Object.freeze({ name, description, token: Symbol.for(`polyalign.${name}`) });
}
