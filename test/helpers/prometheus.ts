/**
 * Reading a Prometheus text exposition in tests: one sample by metric name and exact label set
 * (label order does not matter), 0 when the series does not exist yet (a counter not yet touched).
 */
export type Samples = Map<string, number>;

function keyOf(name: string, labels: Record<string, string>): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return `${name}{${parts.join(",")}}`;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(LABEL)) labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    out.set(keyOf(m[1], labels), Number(m[3]));
  }
  return out;
}

export function sampleOf(samples: Samples, name: string, labels: Record<string, string> = {}): number {
  return samples.get(keyOf(name, labels)) ?? 0;
}

/** after − before for one series. */
export function diffOf(before: Samples, after: Samples, name: string, labels: Record<string, string> = {}): number {
  return sampleOf(after, name, labels) - sampleOf(before, name, labels);
}
