// The loop shared by long-running leader parts (cron scheduler, maintenance): run once, sleep,
// repeat; back off after failures; stop() wakes the sleep and waits for a run in progress.

export interface PeriodicLoopConfig {
  runOnce: () => Promise<unknown>;
  /** Delay before the next run, given the number of consecutive failures (0 after a success). */
  delayMs: (failures: number) => number;
  onError: (err: Error, failures: number) => void;
  /** Wait before the first run; default 0 (run at once). */
  firstDelayMs?: number;
}

/** Runs `runOnce` until stopped; never throws from the loop itself. */
export class PeriodicLoop {
  #isRunning = false;
  #isStopping = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  constructor(private readonly config: PeriodicLoopConfig) {}

  /** True between start() and stop(). */
  get isRunning(): boolean {
    return this.#isRunning;
  }

  /** True once stop() was called (until the next start()): long runs may end early. */
  get isStopping(): boolean {
    return this.#isStopping;
  }

  /** Starts the loop (first run after `firstDelayMs`, default at once). */
  start(): void {
    if (this.#isRunning) return;
    this.#isRunning = true;
    this.#isStopping = false;
    this.#loop = this.#run();
  }

  /** Ends the current sleep early, so the next run starts now (no-op while a run is going). */
  wake(): void {
    if (this.#isRunning) this.#wake?.();
  }

  /** Stops the loop and waits for a run in progress to finish. */
  async stop(): Promise<void> {
    this.#isRunning = false;
    this.#isStopping = true;
    this.#wake?.();
    await this.#loop;
    this.#loop = undefined;
  }

  async #run(): Promise<void> {
    let failures = 0;
    if (this.config.firstDelayMs) await this.#sleep(this.config.firstDelayMs);
    while (this.#isRunning) {
      try {
        await this.config.runOnce();
        failures = 0;
      } catch (err) {
        failures++;
        this.config.onError(err instanceof Error ? err : new Error(String(err)), failures);
      }
      if (!this.#isRunning) break;
      await this.#sleep(this.config.delayMs(failures));
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }
}
