// Wake-ups over LISTEN/NOTIFY, on one dedicated connection through pg-listen.
// pg-listen is unmaintained and by default gives up reconnecting after 3 s; here it retries
// forever with capped back-off, a liveness check sends a NOTIFY on the job channel to ourselves
// (proving the connection is alive AND the channel is still listened to), and every (re)connect
// emits 'connected' so the worker runs a catch-up claim for anything it missed.
import { EventEmitter } from 'node:events';
import pgListen, { type Subscriber } from 'pg-listen';
import type pg from 'pg';
import type { Logger } from '../core/logger.js';
import { cancelChannel, jobChannel } from '../core/names.js';

// pg-listen is CommonJS with `exports.default`; under NodeNext its default import is the module.
const createSubscriber = pgListen.default;

export interface NotifierConfig {
  connection: pg.ClientConfig;
  schema: string;
  workerId: string;
  logger: Logger;
  livenessIntervalMs: number;
  maxBackoffMs: number;
  /** Channels to LISTEN on besides the job channel (whose echo proves liveness). */
  channels: string[];
}

/**
 * Emits 'job' (queue), 'cancel' (job id), 'notification' (channel, payload) for other channels,
 * 'connected' (with true when it is a reconnect) and 'disconnected'.
 */
export class Notifier extends EventEmitter {
  private subscriber: Subscriber | undefined;
  private isStopped = true;
  private livenessTimer: NodeJS.Timeout | undefined;
  private pingToken = '';
  private pingDeadline: NodeJS.Timeout | undefined;
  private attempt = 0;
  private connections = 0;
  private readonly jobCh: string;
  private readonly cancelCh: string;

  constructor(private readonly config: NotifierConfig) {
    super();
    this.jobCh = jobChannel(config.schema);
    this.cancelCh = cancelChannel(config.schema);
  }

  /** Connects in the background; never throws (it keeps retrying until stop()). */
  start(): void {
    this.isStopped = false;
    void this.connect();
  }

  async stop(): Promise<void> {
    this.isStopped = true;
    clearInterval(this.livenessTimer);
    clearTimeout(this.pingDeadline);
    const sub = this.subscriber;
    this.subscriber = undefined;
    await sub?.close().catch(() => undefined);
  }

  private backoff(): number {
    return Math.min(this.config.maxBackoffMs, 100 * 2 ** Math.min(this.attempt, 10));
  }

  private async connect(): Promise<void> {
    while (!this.isStopped) {
      // A reconnect while the network drops packets would otherwise wait out the kernel's SYN
      // retries (about two minutes); keepalive lets the OS notice a dead peer on an idle socket.
      const connection = {
        connectionTimeoutMillis: 10_000,
        keepAlive: true,
        ...this.config.connection,
      };
      const sub = createSubscriber(connection, {
        // Payloads are plain text (queue names, ids), not JSON.
        parse: (s: string) => s,
        serialize: (s: unknown) => String(s),
        retryLimit: Infinity,
        retryTimeout: 0,
        retryInterval: (n: number) =>
          Math.min(this.config.maxBackoffMs, 100 * 2 ** Math.min(n, 10)),
        paranoidChecking: false,
      });
      sub.events.on('notification', (n) => this.onNotification(n.channel, String(n.payload ?? '')));
      sub.events.on('connected', () => this.onConnected());
      sub.events.on('reconnect', (n) => {
        this.emit('disconnected');
        this.config.logger.warn({ attempt: n }, 'notifier reconnecting');
      });
      sub.events.on('error', (err) => {
        this.config.logger.error({ err }, 'notifier error; reconnecting');
        void this.restart(sub);
      });
      try {
        await sub.connect();
        await sub.listenTo(this.jobCh);
        for (const ch of this.config.channels) await sub.listenTo(ch);
        if (this.isStopped) {
          await sub.close().catch(() => undefined);
          return;
        }
        this.subscriber = sub;
        this.attempt = 0;
        this.armLiveness();
        // pg-listen emitted 'connected' before LISTEN ran; this is the moment we can catch up.
        this.emit('connected', this.connections++ > 0);
        return;
      } catch (err) {
        await sub.close().catch(() => undefined);
        this.attempt++;
        this.config.logger.warn({ err, attempt: this.attempt }, 'notifier connect failed');
        await new Promise((r) => setTimeout(r, this.backoff()));
      }
    }
  }

  private onConnected(): void {
    // Fired by pg-listen after it re-LISTENed following a connection loss.
    if (this.subscriber) this.emit('connected', true);
  }

  private async restart(sub: Subscriber): Promise<void> {
    if (this.subscriber !== sub || this.isStopped) return;
    this.subscriber = undefined;
    clearInterval(this.livenessTimer);
    this.emit('disconnected');
    await sub.close().catch(() => undefined);
    await this.connect();
  }

  private armLiveness(): void {
    clearInterval(this.livenessTimer);
    this.livenessTimer = setInterval(
      () => void this.checkLiveness(),
      this.config.livenessIntervalMs,
    );
    this.livenessTimer.unref();
  }

  /** Sends ourselves a NOTIFY on the job channel; no echo within the deadline → reconnect. */
  async checkLiveness(): Promise<void> {
    const sub = this.subscriber;
    if (!sub || this.pingToken) return;
    this.pingToken = `__ping:${this.config.workerId}:${Date.now()}`;
    this.pingDeadline = setTimeout(
      () => {
        this.config.logger.warn({}, 'notifier liveness check got no echo; reconnecting');
        this.pingToken = '';
        void this.restart(sub);
      },
      Math.min(5000, this.config.livenessIntervalMs),
    );
    try {
      await sub.notify(this.jobCh, this.pingToken);
    } catch {
      clearTimeout(this.pingDeadline);
      this.pingToken = '';
      void this.restart(sub);
    }
  }

  private onNotification(channel: string, payload: string): void {
    if (channel === this.jobCh) {
      if (payload.startsWith('__ping:')) {
        if (payload === this.pingToken) {
          clearTimeout(this.pingDeadline);
          this.pingToken = '';
          this.emit('alive');
        }
        return;
      }
      this.emit('job', payload);
    } else if (channel === this.cancelCh) {
      this.emit('cancel', payload);
    } else {
      this.emit('notification', channel, payload);
    }
  }
}
