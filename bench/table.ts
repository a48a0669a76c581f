/** Benchmarks print a table: what was measured, ours, the baseline measured in the same run, the ratio. */
export interface Row {
  metric: string;
  ours: number;
  baseline: number;
  unit: string;
  /** How to read the ratio: 'higher' is better or 'lower' is better. */
  better: 'higher' | 'lower';
  goal?: string;
}

const fmt = (n: number): string =>
  Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en') : Number(n.toPrecision(3)).toString();

export function printTable(title: string, rows: Row[]): void {
  const head = ['metric', 'ours', 'baseline', 'unit', 'ratio', 'goal'];
  const body = rows.map((r) => {
    const ratio = r.better === 'higher' ? r.ours / r.baseline : r.baseline / r.ours;
    return [r.metric, fmt(r.ours), fmt(r.baseline), r.unit, `${ratio.toFixed(2)}×`, r.goal ?? ''];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  console.log(`\n${title}`);
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const b of body) console.log(line(b));
}
