// Output of the CLI: aligned tables for people, JSON for scripts (--json), and a progress bar on stderr.

/** Table columns named by the fields of a REST shape (protocol/): a renamed field fails to compile here. */
export type Columns<T> = [keyof T & string, string][];

export function table(rows: readonly object[], columns: [string, string][]): string {
  if (rows.length === 0) return '(none)';
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : Array.isArray(v) ? v.join(',') : String(v));
  const data = rows.map((r) => columns.map(([k]) => cell((r as Record<string, unknown>)[k])));
  const widths = columns.map(([, h], i) => Math.max(h.length, ...data.map((d) => d[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns.map(([, h]) => h)), ...data.map(line)].join('\n');
}

export function fields(obj: Record<string, unknown>, keys: string[]): string {
  const w = Math.max(...keys.map((k) => k.length));
  return keys
    .filter((k) => obj[k] !== undefined)
    .map(
      (k) =>
        `${k.padEnd(w)}  ${typeof obj[k] === 'object' && obj[k] !== null ? JSON.stringify(obj[k]) : String(obj[k])}`,
    )
    .join('\n');
}

export class ProgressBar {
  private last = 0;
  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {}

  update(done: number): void {
    const now = Date.now();
    if (now - this.last < 100 && done < this.total) return;
    this.last = now;
    const pct = this.total ? Math.min(100, Math.floor((done * 100) / this.total)) : 0;
    const width = 30;
    const fill = Math.round((pct / 100) * width);
    const text = `${this.label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${pct}% ${(done / 1048576).toFixed(1)} MiB`;
    if (this.out.isTTY) this.out.write(`\r${text}`);
    else if (pct === 100 || pct % 25 === 0) this.out.write(`${text}\n`);
  }

  done(): void {
    if (this.out.isTTY) this.out.write('\n');
  }
}
