import { expect } from 'chai';
import { KeyedWorkQueue, type KeyedWorkQueueOptions, type RetryInfo, type Timers } from '../../controller/initializer/work-queue.ts';
import { KubeApiError } from '../../controller/kube/errors.ts';
import { loadTranscript } from '../support/transcripts.ts';

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

/** Timers that record each requested delay and fire at once (on the next macrotask). */
function recordingTimers(): Timers & { delays: number[]; live: number } {
  const t = {
    delays: [] as number[],
    live: 0,
    setTimeout(fn: () => void, ms: number): unknown {
      t.delays.push(ms);
      t.live++;
      return setTimeout(() => { t.live--; fn(); }, 0);
    },
    clearTimeout(handle: unknown): void {
      t.live--;
      clearTimeout(handle as ReturnType<typeof setTimeout>);
    },
  };
  return t;
}

/** The recorded 429 (plain text, Retry-After: 1) as the client reports it. */
function tooManyRequests(): KubeApiError {
  const t = loadTranscript('v1.13.0/21-burst-429.txt');
  return new KubeApiError({ method: 'PATCH', path: '/apis/apps/v1/namespaces/default/deployments/demo-c', statusCode: t.statusCode,
    message: String(t.body).trim(), retryAfterSeconds: Number(t.headers['retry-after']) });
}

describe('KeyedWorkQueue', () => {
  let queue: KeyedWorkQueue | undefined;
  afterEach(async () => {
    await queue?.shutdown();
    queue = undefined;
  });
  const make = (options: KeyedWorkQueueOptions): KeyedWorkQueue => (queue = new KeyedWorkQueue(options));

  it('respects the concurrency bound and never runs one key twice at once', async () => {
    let running = 0;
    let maxRunning = 0;
    const active = new Set<string>();
    const overlaps: string[] = [];
    const runs = new Map<string, number>();
    const q = make({
      concurrency: 3,
      handler: async (key) => {
        if (active.has(key)) overlaps.push(key);
        active.add(key);
        running++;
        maxRunning = Math.max(maxRunning, running);
        runs.set(key, (runs.get(key) ?? 0) + 1);
        await tick(2);
        running--;
        active.delete(key);
      },
    });
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 10; i++) q.add(`ns/w${i}`);
      await tick(1);
    }
    await q.onIdle();
    expect(maxRunning).to.equal(3);
    expect(overlaps).to.deep.equal([]);
    expect(runs.size).to.equal(10);
  });

  it('coalesces adds of a key that is still waiting', async () => {
    const gate = deferred();
    const runs: string[] = [];
    const q = make({ concurrency: 1, handler: async (key) => { runs.push(key); if (key === 'blocker') await gate.promise; } });
    q.add('blocker');
    for (let i = 0; i < 5; i++) q.add('ns/a');
    expect(q.size).to.equal(1);
    expect(q.pending).to.equal(1);
    gate.resolve();
    await q.onIdle();
    expect(runs).to.deep.equal(['blocker', 'ns/a']);
  });

  it('runs a key exactly once more when it is added while running', async () => {
    const gate = deferred();
    let runs = 0;
    const q = make({ concurrency: 4, handler: async () => { runs++; if (runs === 1) await gate.promise; } });
    q.add('ns/a');
    await tick();
    expect(q.pending).to.equal(1);
    q.add('ns/a');
    q.add('ns/a');
    q.add('ns/a');
    gate.resolve();
    await q.onIdle();
    expect(runs).to.equal(2);
  });

  it('retries failures with growing per-key delays and resets after a success', async () => {
    const timers = recordingTimers();
    let failuresLeft = 3;
    const infos: RetryInfo[] = [];
    const q = make({
      concurrency: 2,
      backoff: { initialMs: 10, maxMs: 35 },
      timers,
      handler: async (key) => {
        if (key === 'ns/flaky' && failuresLeft-- > 0) throw new Error('boom');
      },
      onError: (_key, _err, info) => infos.push(info),
    });
    q.add('ns/flaky');
    await q.onIdle();
    expect(timers.delays).to.deep.equal([10, 20, 35]);
    expect(infos).to.deep.equal([
      { retrying: true, attempt: 1, delayMs: 10 },
      { retrying: true, attempt: 2, delayMs: 20 },
      { retrying: true, attempt: 3, delayMs: 35 },
    ]);
    failuresLeft = 1;
    q.add('ns/flaky');
    await q.onIdle();
    expect(timers.delays.slice(3)).to.deep.equal([10]);
  });

  it('gives up when retryDelayMs returns undefined and reports retrying: false', async () => {
    const timers = recordingTimers();
    const reported: Array<[string, unknown, RetryInfo]> = [];
    const invalid = new KubeApiError({ method: 'PATCH', path: '/x', statusCode: 422, reason: 'Invalid', message: 'bad' });
    let runs = 0;
    const q = make({
      concurrency: 1,
      timers,
      handler: async () => { runs++; throw invalid; },
      retryDelayMs: (err, _attempt, backoffMs) => (err instanceof KubeApiError && err.isRetryable ? backoffMs : undefined),
      onError: (key, err, info) => reported.push([key, err, info]),
    });
    q.add('ns/bad');
    await q.onIdle();
    expect(runs).to.equal(1);
    expect(timers.delays).to.deep.equal([]);
    expect(reported).to.deep.equal([['ns/bad', invalid, { retrying: false, attempt: 1, delayMs: undefined }]]);
  });

  it('waits at least Retry-After after a 429 (21)', async () => {
    const timers = recordingTimers();
    let runs = 0;
    const q = make({ concurrency: 1, timers, backoff: { initialMs: 50 }, handler: async () => { if (runs++ === 0) throw tooManyRequests(); } });
    q.add('ns/c');
    await q.onIdle();
    expect(timers.delays).to.deep.equal([1000]);
    expect(runs).to.equal(2);
  });

  it('halves its running limit on 429 (once per overload) and grows it back by one per `limit` successes, never above the bound', async () => {
    const timers = recordingTimers();
    let clock = 0;
    const changes: Array<[number, string]> = [];
    const failing = new Set(['ns/a', 'ns/b', 'ns/c']);
    const q = make({
      concurrency: 8, timers, now: () => clock, backoff: { initialMs: 1 },
      onLimitChange: (limit, why) => { changes.push([limit, why]); },
      handler: async (key) => {
        await tick();
        if (failing.delete(key)) throw tooManyRequests();
      },
    });
    for (const key of ['ns/a', 'ns/b', 'ns/c']) q.add(key);
    await q.onIdle();
    // Three 429s of one overload (same instant): one halving, 8 -> 4.
    expect(changes[0]).to.deep.equal([4, 'overloaded']);
    expect(changes.filter(([, why]) => why === 'overloaded')).to.have.length(1);
    // The three retries succeeded: 3 < 4 successes, so no growth yet.
    expect(q.concurrencyLimit).to.equal(4);
    for (let i = 0; i < 40; i++) q.add(`ns/ok-${i}`);
    await q.onIdle();
    // 4 successes -> 5, 5 more -> 6, 6 more -> 7, 7 more -> 8; 3 + 40 successes reach the bound and stop there.
    expect(changes.slice(1)).to.deep.equal([[5, 'recovered'], [6, 'recovered'], [7, 'recovered'], [8, 'recovered']]);
    expect(q.concurrencyLimit).to.equal(8);
    // A later overload (after the cool-down) halves again.
    clock += 5000;
    failing.add('ns/late');
    q.add('ns/late');
    await q.onIdle();
    expect(changes.slice(-1)[0]).to.deep.equal([4, 'overloaded']);
  });

  it('runs at most the lowered limit at once while overloaded', async () => {
    const timers = recordingTimers();
    const gates: Deferred[] = [];
    let running = 0;
    let maxRunning = 0;
    let first = true;
    const q = make({
      concurrency: 4, timers, now: () => 0,
      handler: async () => {
        if (first) { first = false; throw tooManyRequests(); }
        running++;
        maxRunning = Math.max(maxRunning, running);
        const gate = deferred();
        gates.push(gate);
        await gate.promise;
        running--;
      },
    });
    q.add('ns/overload');
    await tick(5);
    expect(q.concurrencyLimit).to.equal(2);
    for (let i = 0; i < 6; i++) q.add(`ns/w-${i}`);
    await tick(5);
    expect(running, 'the retried key and one more: the lowered limit, with 5 keys waiting').to.equal(2);
    expect(q.size).to.equal(5);
    while (gates.length) { gates.shift()!.resolve(); await tick(5); }
    await q.onIdle();
    expect(maxRunning, 'grown back by successes, never above the bound').to.be.at.most(4);
  });

  it('keeps a key that waits for a retry waiting when it is added again', async () => {
    const timers = recordingTimers();
    let runs = 0;
    const q = make({ concurrency: 1, timers, handler: async () => { if (runs++ === 0) throw new Error('boom'); } });
    q.add('ns/a');
    await tick();
    expect(timers.live).to.equal(1);
    q.add('ns/a');
    expect(q.pending).to.equal(0);
    await q.onIdle();
    expect(runs).to.equal(2);
  });

  it('shutdown waits for running handlers, drops waiting and delayed keys, refuses new ones', async () => {
    const gate = deferred();
    const timers = recordingTimers();
    const started: string[] = [];
    let finished = false;
    const q = make({
      concurrency: 1,
      timers: { ...timers, setTimeout: (fn, ms) => { timers.delays.push(ms); timers.live++; return setTimeout(() => { timers.live--; fn(); }, 10_000); } },
      handler: async (key) => {
        started.push(key);
        if (key === 'ns/fail') throw new Error('boom');
        await gate.promise;
        finished = true;
      },
    });
    q.add('ns/fail');
    await tick(5);
    expect(timers.live).to.equal(1);
    q.add('ns/slow');
    q.add('ns/waiting');
    await tick();
    let done = false;
    const shutdown = q.shutdown().then(() => { done = true; });
    expect(q.add('ns/late')).to.equal(false);
    await tick(5);
    expect(done).to.equal(false);
    gate.resolve();
    await shutdown;
    expect(finished).to.equal(true);
    expect(started).to.deep.equal(['ns/fail', 'ns/slow']);
    expect(timers.live).to.equal(0);
    expect(q.size).to.equal(0);
  });
});
