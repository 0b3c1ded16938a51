/**
 * @module
 * The registry of callable handlers: built-ins plus operator-declared upstreams.
 */
import type { HandlerDef, HandlerLookup } from "../core/call-contract.js";

export class HandlerRegistry implements HandlerLookup {
  private readonly byName = new Map<string, HandlerDef>();

  register(def: HandlerDef): this {
    if (!/^\/[a-z0-9_\-/]+$/i.test(def.name)) throw new Error(`Handler name ${def.name} must start with / and use [a-z0-9_-/]`);
    if (this.byName.has(def.name)) throw new Error(`Handler ${def.name} is registered twice`);
    this.byName.set(def.name, def);
    return this;
  }

  get(name: string): HandlerDef | undefined {
    return this.byName.get(name);
  }

  all(): HandlerDef[] {
    return this.names().map((n) => this.byName.get(n)!);
  }

  names(): string[] {
    return [...this.byName.keys()].sort();
  }
}
