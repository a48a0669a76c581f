/** Plain-text output helpers for the technician CLI. */

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(cells[0]!), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n');
}

/** A progress bar on stderr when it is a terminal; silent otherwise (the final summary still prints). */
export function progress(
  total: number,
  label: string,
): { update(done: number, note?: string): void; end(): void } {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  return {
    update(done, note = '') {
      if (!tty) return;
      const now = Date.now();
      if (done < total && now - last < 50) return;
      last = now;
      const width = 30;
      const filled = Math.round((done / total) * width);
      process.stderr.write(
        `\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${note}`.padEnd(79),
      );
    },
    end() {
      if (tty) process.stderr.write('\n');
    },
  };
}
