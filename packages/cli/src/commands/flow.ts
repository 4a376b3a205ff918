// `sluice flow show|cancel|replay <id>`: a flow (any member's id names it) drawn as the tree of
// what waits for what, with states, attempts and durations.
import type { Command } from 'commander';
import type { FlowInfo, FlowMember } from 'sluice/admin';
import { cancelFlow, getFlow, replayFlow } from 'sluice/admin';
import { JobNotFoundError } from 'sluice';
import { examples, globals } from '../command-helpers.js';
import { withDb } from '../connection.js';
import { printJson } from '../format-table.js';
import { jobId } from '../parse-args.js';

function duration(m: FlowMember): string {
  if (!m.startedAt) return '';
  const end = m.finishedAt ? new Date(m.finishedAt).getTime() : Date.now();
  const ms = end - new Date(m.startedAt).getTime();
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function line(m: FlowMember): string {
  const took = duration(m);
  return `#${m.id} ${m.task} [${m.queue}] ${m.state}  attempt ${m.attempt}/${m.maxAttempts}${took ? `  ${took}` : ''}`;
}

/**
 * The flow as text: each job nobody in the flow waits for, then what it waits for, indented.
 * A job reached twice (a DAG) is drawn once and referred to after.
 */
export function drawFlow(flow: FlowInfo): string {
  const byId = new Map(flow.members.map((m) => [m.id, m]));
  const waitedOn = new Set(flow.members.flatMap((m) => m.dependsOn));
  const roots = flow.members.filter((m) => !waitedOn.has(m.id));
  const drawn = new Set<string>();
  const out: string[] = [`flow ${flow.flowId}: ${flow.members.length} jobs`];
  const walk = (id: string, prefix: string, isLast: boolean, isRoot: boolean) => {
    const m = byId.get(id);
    const branch = isRoot ? '' : isLast ? '└─ ' : '├─ ';
    if (!m) {
      out.push(`${prefix}${branch}#${id} (outside this flow)`);
      return;
    }
    if (drawn.has(id)) {
      out.push(`${prefix}${branch}#${id} ${m.task} (shown above)`);
      return;
    }
    drawn.add(id);
    out.push(`${prefix}${branch}${line(m)}`);
    const next = isRoot ? prefix : prefix + (isLast ? '   ' : '│  ');
    m.dependsOn.forEach((d, i) => walk(d, next, i === m.dependsOn.length - 1, false));
  };
  for (const r of roots) walk(r.id, '', true, true);
  return out.join('\n');
}

/** Registers `sluice flow …`. */
export function registerFlow(program: Command): void {
  const flow = program
    .command('flow')
    .description('show, cancel and replay flows (jobs that wait for other jobs)')
    .addHelpText('after', examples('sluice flow show 42', 'sluice flow replay 42'));

  flow
    .command('show')
    .description('draw the flow a job belongs to: what waits for what, states, attempts, durations')
    .argument('<id>', 'id of any job in the flow', jobId)
    .option('--json', 'print the flow as JSON')
    .addHelpText('after', examples('sluice flow show 42', 'sluice flow show 42 --json'))
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const info = await withDb(globals(cmd), (db, schema) => getFlow({ db, schema, id }));
      if (!info) throw new JobNotFoundError(id);
      if (opts.json) printJson(info);
      else console.log(drawFlow(info));
    });

  flow
    .command('cancel')
    .description(
      'cancel every unfinished job of the flow (running ones are aborted by their workers)',
    )
    .argument('<id>', 'id of any job in the flow', jobId)
    .option('--reason <text>', 'recorded as the cancel reason', 'flow cancelled')
    .action(async (id: string, opts: { reason: string }, cmd: Command) => {
      const n = await withDb(globals(cmd), (db, schema) =>
        cancelFlow({ db, schema, id, reason: opts.reason }),
      );
      console.log(`cancelled ${n} job${n === 1 ? '' : 's'} of the flow of ${id}`);
    });

  flow
    .command('replay')
    .description('replay the dead jobs of the flow; what waited on them runs once they complete')
    .argument('<id>', 'id of any job in the flow', jobId)
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const n = await withDb(globals(cmd), (db, schema) => replayFlow({ db, schema, id }));
      console.log(`replayed ${n} dead job${n === 1 ? '' : 's'} of the flow of ${id}`);
    });
}
