import type { ScenarioResult } from "./scenario.js";

/** Everything a run measured, with where it ran. */
export interface BenchReport {
  date: string;
  mode: "full" | "quick";
  machine: { hostname: string; cpu: string; cores: number; memoryGiB: number; os: string; node: string; dockerEngine: string; modalSdk: string };
  durationSeconds: number;
  scenarios: ScenarioResult[];
}

const cell = (value: number | string | undefined, width: number) => String(value ?? "").padStart(width);

/** The report as a plain-text table (what `pnpm bench` prints at the end). */
export function formatTable(report: BenchReport): string {
  const lines = [
    `sandbox benchmarks, ${report.mode} run, ${report.date}`,
    `${report.machine.cpu} x${report.machine.cores}, ${report.machine.memoryGiB} GiB, ${report.machine.os}, Node ${report.machine.node}, Docker ${report.machine.dockerEngine}, modal SDK ${report.machine.modalSdk}`,
  ];
  for (const scenario of report.scenarios) {
    lines.push("", scenario.title, `${"".padEnd(44)}${cell("n", 5)}${cell("p50", 10)}${cell("p95", 10)}${cell("p99", 10)}  other`);
    for (const row of scenario.rows) {
      const latency = row.latencyMs;
      const other = Object.entries(row.figures ?? {})
        .map(([name, value]) => `${name} ${value}`)
        .join(", ");
      lines.push(`  ${row.name.padEnd(42)}${cell(latency?.n, 5)}${cell(latency?.p50, 10)}${cell(latency?.p95, 10)}${cell(latency?.p99, 10)}  ${other}`);
    }
    for (const check of scenario.targets) {
      lines.push(`  target ${check.name}: ${check.value}${check.unit} (${check.op} ${check.limit}${check.unit}) ${check.met ? "met" : "NOT met"}`);
    }
    for (const note of scenario.notes ?? []) lines.push(`  note: ${note}`);
    lines.push(`  errors: ${scenario.errors}`);
  }
  return lines.join("\n");
}

const escapeXml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/**
 * An SVG chart: one horizontal bar per latency row (p50, with a thin line out
 * to p95), grouped by scenario, on a log scale so 5 ms and 5 s both show.
 */
export function formatSvg(report: BenchReport): string {
  const rows = report.scenarios.flatMap((scenario) => [
    { heading: scenario.title },
    ...scenario.rows.filter((row) => row.latencyMs && Number.isFinite(row.latencyMs.p50)).map((row) => ({ row })),
  ]);
  const width = 960;
  const labelWidth = 380;
  const plotWidth = width - labelWidth - 90;
  const lineHeight = 18;
  const height = 60 + rows.length * lineHeight;
  const minMs = 1;
  const maxMs = Math.max(10, ...report.scenarios.flatMap((scenario) => scenario.rows.map((row) => row.latencyMs?.p95 ?? 0)));
  const x = (ms: number) => labelWidth + (Math.log10(Math.max(minMs, ms)) / Math.log10(maxMs)) * plotWidth;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<title>${escapeXml(`Sandbox benchmarks, ${report.date}`)}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${escapeXml(`Sandbox benchmarks: p50 (bar) and p95 (line), ms, log scale. ${report.date}, ${report.machine.cpu} x${report.machine.cores}`)}</text>`,
  ];
  for (const tick of [1, 10, 100, 1000, 10000].filter((value) => value <= maxMs)) {
    parts.push(`<line x1="${x(tick)}" y1="32" x2="${x(tick)}" y2="${height - 10}" stroke="#ddd"/>`);
    parts.push(`<text x="${x(tick)}" y="44" text-anchor="middle" fill="#666">${tick} ms</text>`);
  }
  rows.forEach((entry, index) => {
    const y = 60 + index * lineHeight;
    if ("heading" in entry) {
      parts.push(`<text x="10" y="${y + 12}" font-weight="bold">${escapeXml(entry.heading)}</text>`);
      return;
    }
    const latency = entry.row.latencyMs!;
    parts.push(`<text x="${labelWidth - 8}" y="${y + 12}" text-anchor="end">${escapeXml(entry.row.name)}</text>`);
    parts.push(`<rect x="${labelWidth}" y="${y + 3}" width="${Math.max(1, x(latency.p50) - labelWidth).toFixed(1)}" height="11" fill="#4a7bd0"/>`);
    parts.push(`<line x1="${x(latency.p50).toFixed(1)}" y1="${y + 8.5}" x2="${x(latency.p95).toFixed(1)}" y2="${y + 8.5}" stroke="#4a7bd0"/>`);
    parts.push(`<text x="${(x(latency.p95) + 6).toFixed(1)}" y="${y + 12}" fill="#333">${latency.p50}</text>`);
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

/** One line of an array of plain values as `JSON.stringify` indents it: a string, number, boolean or null, or such an array already on one line. */
const PLAIN_ITEM = /^\s*("(?:[^"\\]|\\.)*"|-?\d[\d.eE+-]*|true|false|null|\[.*\]),?$/;

/** Biome's line width (biome.jsonc), up to which it puts an array of plain values on one line. */
const JSON_LINE_WIDTH = 160;

/**
 * The report as JSON in Biome's format (what `pnpm biome format` makes of
 * `JSON.stringify(report, null, 2)`): objects one key per line, an array of
 * plain values on one line when it fits in the line width.
 */
export function formatJson(report: BenchReport): string {
  let lines = JSON.stringify(report, null, 2).split("\n");
  // Innermost arrays first: an array of arrays that each went on one line may go on one line too.
  for (let before = 0; before !== lines.length; ) {
    before = lines.length;
    lines = collapseArrays(lines);
  }
  return `${lines.join("\n")}\n`;
}

function collapseArrays(lines: string[]): string[] {
  const out: string[] = [];
  for (let index = 0; index < lines.length; index += 1) {
    const line = lines[index]!;
    if (line.endsWith("[")) {
      const close = lines.findIndex((candidate, at) => at > index && /^\s*\],?$/.test(candidate));
      const items = lines.slice(index + 1, close);
      if (close !== -1 && items.every((item) => PLAIN_ITEM.test(item))) {
        const joined = `${line}${items.map((item) => item.trim()).join(" ")}${lines[close]!.trim()}`;
        if (joined.length <= JSON_LINE_WIDTH) {
          out.push(joined);
          index = close;
          continue;
        }
      }
    }
    out.push(line);
  }
  return out;
}
