// How `sluice demo` talks: step headings, the SQL it runs, results as small tables, and a live
// progress bar. Plain text when stdout is not a terminal, so a log of the demo stays readable.
import type pg from 'pg';
import { cell, formatTable } from '../format-table.js';

/** Writes the demo's narration on stdout. */
export class Narrator {
  private readonly isTty: boolean;

  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {
    this.isTty = out.isTTY === true;
  }

  private style(code: string, text: string): string {
    return this.isTty ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  /** A step heading such as `== 1. An app transaction … ==`. */
  step(title: string): void {
    this.out.write(`\n${this.style('1', `== ${title} ==`)}\n`);
  }

  /** A line of narration. */
  say(text: string): void {
    this.out.write(`${text}\n`);
  }

  /** A statement as it is run, with its bound values. */
  showSql(text: string, values: unknown[] = []): void {
    const lines = text.split('\n').map((l, i) => `${i === 0 ? '  sql> ' : '       '}${l}`);
    const bound = values.length > 0 ? `   -- ${values.map((v) => cell(v)).join(', ')}` : '';
    this.out.write(
      `${this.style('36', lines.join('\n') + (text.endsWith(';') ? '' : ';'))}${bound}\n`,
    );
  }

  /** A line of TypeScript the demo runs (an API call), shown like the SQL. */
  showCode(text: string): void {
    this.out.write(`${this.style('35', `  ts>  ${text}`)}\n`);
  }

  /** Rows as an indented table. */
  table(rows: Record<string, unknown>[]): void {
    if (rows.length === 0) {
      this.out.write('       (no rows)\n');
      return;
    }
    const headers = Object.keys(rows[0] ?? {});
    const text = formatTable(
      headers,
      rows.map((r) => headers.map((h) => cell(r[h]))),
    );
    this.out.write(`${indent(text)}\n`);
  }

  /** Shows `text`, runs it on `db`, shows its rows (or its row count) and returns the result. */
  async query<R extends pg.QueryResultRow = Record<string, unknown>>(
    db: pg.Pool | pg.PoolClient,
    text: string,
    values: unknown[] = [],
    options: { isResultShown?: boolean } = {},
  ): Promise<pg.QueryResult<R>> {
    this.showSql(text, values);
    const result = await db.query<R>(text, values);
    if (options.isResultShown === false) return result;
    if (result.fields.length > 0) this.table(result.rows);
    else this.say(`       ${result.command} ${result.rowCount ?? 0}`);
    return result;
  }

  /** A progress display of `total` items counted from `startedAt`; `update(done)`, `finish()`. */
  progress(total: number, label: string, startedAt = Date.now()): Progress {
    return new Progress(this.out, this.isTty, total, label, startedAt);
  }
}

/** A progress bar redrawn in place on a terminal, or one line a second otherwise. */
export class Progress {
  private lastLineAt = 0;
  private lastDone = 0;
  /** Recent (time, done) samples: the rate shown is over the last second. */
  private samples: { at: number; done: number }[];

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly isTty: boolean,
    private readonly total: number,
    private readonly label: string,
    private readonly startedAt: number,
  ) {
    this.samples = [{ at: startedAt, done: 0 }];
  }

  /** Redraws with `done` items finished. */
  update(done: number): void {
    const now = Date.now();
    this.lastDone = done;
    this.samples.push({ at: now, done });
    while (this.samples.length > 2 && now - (this.samples[1]?.at ?? now) >= 1000) {
      this.samples.shift();
    }
    if (this.isTty) this.out.write(`\r${this.line(done, this.recentRate())}\x1b[K`);
    else if (now - this.lastLineAt >= 1000) {
      this.lastLineAt = now;
      this.out.write(`${this.line(done, this.recentRate())}\n`);
    }
  }

  /** Prints the final state and ends the line; returns the average rate since the start. */
  finish(): number {
    const seconds = (Date.now() - this.startedAt) / 1000;
    const rate = seconds > 0 ? this.lastDone / seconds : 0;
    const line = this.line(this.lastDone, rate);
    this.out.write(this.isTty ? `\r${line}\x1b[K\n` : `${line}\n`);
    return rate;
  }

  private recentRate(): number {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.at - first.at < 50) return 0;
    return ((last.done - first.done) * 1000) / (last.at - first.at);
  }

  private line(done: number, rate: number): string {
    const width = 30;
    const filled = Math.min(width, Math.round((done / this.total) * width));
    const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
    const n = (v: number) => Math.round(v).toLocaleString('en-US');
    return `  ${this.label} [${bar}] ${n(done)} / ${n(this.total)}  ${n(rate)} jobs/s`;
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `       ${l}`)
    .join('\n');
}
