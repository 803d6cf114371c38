// Events are best effort and must not flood the API server: repeats count up on one Event (client-go's
// EventLogger), changing messages are combined (its EventAggregator), a global token bucket bounds the
// writes, a bounded queue drops (counted, logged once per 100) past it, and Warnings keep a reserve.
import { expect } from 'chai';
import { COMBINED_PREFIX, createEventRecorder, involvedObjectOf, type EventRecord, type EventRecorderOptions } from '../../controller/kube/events.ts';
import { KubeApiError } from '../../controller/kube/errors.ts';
import type { KubeApi } from '../../controller/kube/types.ts';
import { createMemoryLogger } from '../../controller/logger.ts';
import { Metrics } from '../../controller/metrics.ts';
import { scrape } from '../support/metrics.ts';

type Stored = Record<string, unknown> & { count: number; message: string; reason: string; type: string; involvedObject: Record<string, unknown> };

/** An API server that keeps Events, answers at once (or when `hold` is released), and records every write. */
function eventServer(options: { hold?: boolean; objects?: Record<string, Record<string, unknown>> } = {}) {
  const events = new Map<string, Stored>();
  const writes: string[] = [];
  const held: Array<() => void> = [];
  let inFlight = 0;
  let peak = 0;
  let serial = 0;
  const answer = <T>(value: () => T): Promise<T> => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    const settle = (): void => { inFlight--; };
    if (!options.hold) {
      settle();
      return Promise.resolve().then(value);
    }
    return new Promise<T>((resolve, reject) => held.push(() => {
      settle();
      try { resolve(value()); } catch (error) { reject(error as Error); }
    }));
  };
  const notFound = (method: string, path: string) => new KubeApiError({ method, path, statusCode: 404, reason: 'NotFound', message: 'not found' });
  const api = {
    post: (path: string, body: Stored) => {
      writes.push(`POST ${path}`);
      return answer(() => {
        const name = `${String((body.metadata as { generateName: string }).generateName)}${++serial}`;
        events.set(name, { ...body, metadata: { name } });
        return { metadata: { name } };
      });
    },
    patch: (path: string, body: { count: number }) => {
      writes.push(`PATCH ${path}`);
      return answer(() => {
        const name = decodeURIComponent(path.split('/').pop()!);
        const stored = events.get(name);
        if (!stored) throw notFound('PATCH', path);
        Object.assign(stored, body);
        return stored;
      });
    },
    get: (path: string) => answer(() => {
      const object = options.objects?.[path];
      if (!object) throw notFound('GET', path);
      return object;
    }),
  } as unknown as KubeApi;
  return {
    api, events, writes,
    peak: () => peak,
    release: () => { while (held.length) held.shift()!(); },
    list: () => [...events.values()],
  };
}

const deployment = (i: number) => ({ object: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: `web-${i}`, uid: `uid-${i}` } });
const injected = (i: number): EventRecord => ({ ...deployment(i), type: 'Normal', reason: 'SidecarInjected', message: 'selected by MeshConfig default (policy Enabled)' });
const settle = () => new Promise((resolve) => setImmediate(resolve));

function recorder(server: ReturnType<typeof eventServer>, options: EventRecorderOptions = {}) {
  const log = createMemoryLogger();
  const metrics = new Metrics({ processMetrics: false });
  let clock = 0;
  const events = createEventRecorder(server.api, log, { now: () => clock, ...options, metrics });
  return { events, log, metrics, advance: (ms: number) => { clock += ms; } };
}

async function metricValue(metrics: Metrics, sample: string): Promise<number> {
  return (await scrape(metrics)).get(sample) ?? 0;
}

describe('kube/events: the Event recorder', function () {
  it('counts the same Event repeated on one object: ONE Event, count N, written with one POST and one PATCH', async function () {
    const server = eventServer({ hold: true });
    const { events } = recorder(server);
    for (let i = 0; i < 50; i++) events.record(injected(1));
    expect(server.writes, 'repeats while the POST is in flight are not new writes').to.deep.equal(['POST /api/v1/namespaces/shop/events']);
    server.release();
    await settle();
    server.release();
    await events.idle();
    expect(server.list()).to.have.length(1);
    expect(server.list()[0]).to.include({ count: 50, reason: 'SidecarInjected', type: 'Normal' });
    expect(server.writes).to.deep.equal(['POST /api/v1/namespaces/shop/events', 'PATCH /api/v1/namespaces/shop/events/web-1.1']);
    // Later repeats keep counting on the same Event.
    events.record(injected(1));
    server.release();
    await settle();
    server.release();
    await events.idle();
    expect(server.list()).to.have.length(1);
    expect(server.list()[0]!.count).to.equal(51);
  });

  it('a burst of 10,000 different decisions writes `burst` Events at once, never more than maxInFlight in flight, and drops the rest past the queue (counted, logged once per 100)', async function () {
    const server = eventServer({ hold: true });
    const { events, log, metrics } = recorder(server, { burst: 25, ratePerSecond: 5, maxQueued: 200, maxInFlight: 2 });
    for (let i = 0; i < 10_000; i++) events.record(injected(i));
    for (let round = 0; round < 40; round++) {
      server.release();
      await settle();
    }
    // The clock has not moved: only the burst's tokens (less the Warning reserve) were spent.
    expect(server.writes).to.have.length(20);
    expect(server.peak()).to.equal(2);
    const dropped = await metricValue(metrics, 'meshinit_events_total{type="Normal",outcome="dropped"}');
    // Two were taken out of the queue to be written (in flight) before it filled with 200.
    expect(dropped).to.equal(10_000 - 2 - 200);
    const lines = log.lines.filter((l) => l.message === 'Events dropped');
    expect(lines.length, 'logged at the 1st drop and every 100th').to.equal(1 + Math.floor(dropped / 100));
    expect(lines.every((l) => l.level === 'warn')).to.equal(true);
    events.stop();
  });

  it('the bucket refills at ratePerSecond: 25 at once, then about ratePerSecond per second', async function () {
    const server = eventServer();
    const events = createEventRecorder(server.api, createMemoryLogger(), { burst: 25, ratePerSecond: 50, warningReserve: 0 });
    for (let i = 0; i < 200; i++) events.record(injected(i));
    await settle();
    const atOnce = server.writes.length;
    await new Promise((resolve) => setTimeout(resolve, 400));
    const later = server.writes.length;
    events.stop();
    expect(atOnce).to.equal(25);
    // 400 ms at 50/s is 20 more; timers are late, never early.
    expect(later - atOnce).to.be.within(12, 21);
  });

  it('Warnings keep a reserve that routine Normal Events cannot take, and take the place of a queued Normal when the queue is full', async function () {
    const server = eventServer({ hold: true });
    const { events, metrics } = recorder(server, { burst: 10, warningReserve: 5, maxQueued: 3, maxInFlight: 100 });
    for (let i = 0; i < 20; i++) events.record(injected(i));
    expect(server.writes, 'Normal Events stop at burst - reserve').to.have.length(5);
    for (let i = 0; i < 3; i++) events.record({ ...deployment(100 + i), type: 'Warning', reason: 'InjectionFailed', message: 'name clash' });
    expect(server.writes, 'Warnings use the reserve').to.have.length(8);
    // Queue (3) full of Normals: a Warning pushes the oldest Normal out.
    events.record({ ...deployment(200), type: 'Warning', reason: 'SidecarNotInjected', message: 'released' });
    expect(await metricValue(metrics, 'meshinit_events_total{type="Normal",outcome="dropped"}')).to.equal(20 - 5 - 3 + 1);
    expect(await metricValue(metrics, 'meshinit_events_total{type="Warning",outcome="dropped"}')).to.equal(0);
    events.stop();
  });

  it('combines more than 10 different messages for one (object, type, reason), as client-go\'s aggregator does', async function () {
    const server = eventServer();
    const { events } = recorder(server, { burst: 100 });
    for (let i = 0; i < 14; i++) events.record({ ...deployment(1), type: 'Warning', reason: 'SidecarNotInjected', message: `attempt ${i}` });
    await events.idle();
    await settle();
    await events.idle();
    const stored = server.list();
    expect(stored.filter((e) => !e.message.startsWith(COMBINED_PREFIX))).to.have.length(10);
    const combined = stored.filter((e) => e.message.startsWith(COMBINED_PREFIX));
    // Each combined message differs, so each is its own Event: the aggregator bounds how many
    // *kinds* of message an object gets per window, the repeat counting bounds each kind.
    expect(combined.length).to.equal(4);
  });

  it('an object decided on before it was stored: the uid is read when the Event is written; never stored means no Event', async function () {
    const stored = '/apis/apps/v1/namespaces/shop/deployments/web';
    const server = eventServer({ objects: { [stored]: { metadata: { name: 'web', uid: 'uid-web' } } } });
    const { events, metrics } = recorder(server, { resolveDelayMs: 0 });
    events.record({ object: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'web' }, type: 'Normal', reason: 'SidecarInjected', message: 'm', resolvePath: stored });
    events.record({ object: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'refused' }, type: 'Normal', reason: 'SidecarInjected', message: 'm', resolvePath: '/apis/apps/v1/namespaces/shop/deployments/refused' });
    await events.idle();
    expect(server.list()).to.have.length(1);
    expect(server.list()[0]!.involvedObject).to.include({ name: 'web', uid: 'uid-web' });
    expect(await metricValue(metrics, 'meshinit_events_total{type="Normal",outcome="dropped"}')).to.equal(1);
  });

  it('an Event that expired on the server (PATCH 404) is created again with the running count', async function () {
    const server = eventServer();
    const { events } = recorder(server);
    events.record(injected(1));
    await events.idle();
    server.events.clear();
    events.record(injected(1));
    await events.idle();
    expect(server.writes.map((w) => w.split(' ')[0])).to.deep.equal(['POST', 'PATCH', 'POST']);
    expect(server.list()[0]!.count).to.equal(2);
  });

  it('a repeat the server refuses to PATCH (403: the Initializer ClusterRole grants no patch) is written as a new Event with the running count', async function () {
    const server = eventServer();
    const api = { ...server.api, patch: () => Promise.reject(new KubeApiError({ method: 'PATCH', path: '/e', statusCode: 403, reason: 'Forbidden', message: 'cannot patch events' })) } as unknown as KubeApi;
    const events = createEventRecorder(api, createMemoryLogger());
    events.record(injected(1));
    await events.idle();
    events.record(injected(1));
    await events.idle();
    expect(server.list().map((e) => e.count)).to.deep.equal([1, 2]);
  });

  it('a failing write is counted and logged at debug, never thrown', async function () {
    const api = { post: () => Promise.reject(new Error('connection reset')) } as unknown as KubeApi;
    const log = createMemoryLogger();
    const metrics = new Metrics({ processMetrics: false });
    const events = createEventRecorder(api, log, { metrics });
    events.record(injected(1));
    await events.idle();
    expect(await metricValue(metrics, 'meshinit_events_total{type="Normal",outcome="failed"}')).to.equal(1);
    expect(log.lines.find((l) => l.message === 'Event not recorded')?.level).to.equal('debug');
  });

  it('involvedObjectOf: kind, namespace, name and uid; nothing for an object without a name', function () {
    expect(involvedObjectOf({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j', namespace: 'n', uid: 'u', resourceVersion: '7' } }))
      .to.deep.equal({ apiVersion: 'batch/v1', kind: 'Job', namespace: 'n', name: 'j', uid: 'u', resourceVersion: '7' });
    expect(involvedObjectOf({ kind: 'Pod', metadata: { generateName: 'web-', namespace: 'n' } })).to.equal(undefined);
  });
});
