// Prometheus metrics, served at /metrics on the health listener in both modes. One private
// Registry per process (never prom-client's global one: tests and benchmarks run several
// controllers in one process), every name prefixed `meshinit_`.
//
// The hot path is a decision: the Initializer mode makes 400+ a second on 2 cores. Counters that
// move per decision are plain numbers in a Map keyed by their label values, copied into
// prom-client only when Prometheus scrapes (prom-client hashes and validates the label object on
// every inc()); the histograms have no labels, so observe() is a bucket search. Every label is
// bounded: mode, kind and action are closed sets, reason is a code from core/reasons.ts, resource
// is one of the handful meshinit watches, and meshconfig is one series per MeshConfig object.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { boundedReasonCode, type ReasonCode } from './core/reasons.ts';
import { POD_TEMPLATE_KINDS } from './core/types.ts';

export const METRIC_PREFIX = 'meshinit_';
export type DecisionMode = 'initializer' | 'webhook';
export type DecisionAction = 'injected' | 'skipped' | 'released' | 'failed';
export const DECISION_ACTIONS: readonly DecisionAction[] = ['injected', 'skipped', 'released', 'failed'];
/** The kinds a decision is counted under; any other resource a webhook is sent counts as `other`. */
export const METRIC_KINDS: readonly string[] = [...POD_TEMPLATE_KINDS, 'other'];
export type EventOutcome = 'created' | 'patched' | 'dropped' | 'failed';
/** A write that lost a race: 409, or our JSON Patch `test` failing (422 on 1.13, 500 on 1.9). */
export type ConflictCode = '409' | '422' | '500';

/** What happened to a workload rollout of a changed MeshConfig (see kube/rollout-runner.ts). */
export type RolloutResult = 'started' | 'finished' | 'timed_out' | 'skipped' | 'conflict' | 'failed';
export const ROLLOUT_RESULTS: readonly RolloutResult[] = ['started', 'finished', 'timed_out', 'skipped', 'conflict', 'failed'];

/** What the work queue reports when scraped. */
export interface QueueGauges {
  depth(): number;
  inFlight(): number;
  concurrencyLimit(): number;
  longestWaitingSeconds(): number;
}

/** What informers report (see kube/informer.ts). */
export interface InformerMetrics {
  relisted(resource: string): void;
  watchRestarted(resource: string): void;
}

/** What the Event recorder reports (see kube/events.ts). */
export interface EventMetrics {
  event(type: 'Normal' | 'Warning', outcome: EventOutcome): void;
}

/** A MeshConfig's verdict as the store made it: valid or not, and the generation in use (if any). */
export interface MeshConfigReading {
  name: string;
  valid: boolean;
  generationInUse?: number;
}

/** Buckets for "how long did a workload wait for us": creationTimestamp has 1 s resolution. */
export const WAIT_BUCKETS = [0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300];
/** Buckets for one sync or one admission: a few ms normally, seconds when the server is slow. */
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Counts kept as plain numbers and published at scrape time (see the file comment). */
class CountCells<K extends string> {
  private readonly cells = new Map<string, { labels: Record<K, string>; value: number }>();

  add(key: string, labels: () => Record<K, string>, value = 1): void {
    const cell = this.cells.get(key);
    if (cell) cell.value += value;
    else this.cells.set(key, { labels: labels(), value });
  }

  publish(counter: Counter<K>): void {
    counter.reset();
    for (const cell of this.cells.values()) counter.inc(cell.labels, cell.value);
  }
}

export interface MetricsOptions {
  /** process_* and nodejs_* metrics (CPU, memory, event loop lag); off in unit tests. */
  processMetrics?: boolean;
}

export class Metrics implements InformerMetrics, EventMetrics {
  readonly registry = new Registry();
  private readonly decisions = new CountCells<'mode' | 'kind' | 'action' | 'reason'>();
  private readonly conflicts = new CountCells<'code'>();
  private readonly events = new CountCells<'type' | 'outcome'>();
  private readonly rollouts = new CountCells<'result'>();
  private readonly relists = new CountCells<'resource'>();
  private readonly watchRestarts = new CountCells<'resource'>();
  private retries = 0;
  private throttled = 0;
  private readonly meshConfigs = new Map<string, MeshConfigReading>();
  private leader = 1;
  private lastCreation = '';
  private lastCreationMs = NaN;
  private queue: QueueGauges | undefined;
  private ready: () => boolean = () => false;
  private readonly syncDuration: Histogram;
  private readonly admissionDuration: Histogram;
  private readonly waitDuration: Histogram;

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    const counter = <K extends string>(name: string, help: string, labelNames: readonly K[], publish: (c: Counter<K>) => void): void => {
      new Counter<K>({ name: METRIC_PREFIX + name, help, labelNames, registers, collect() { publish(this); } });
    };
    const gauge = <K extends string>(name: string, help: string, labelNames: readonly K[], collect: (g: Gauge<K>) => void): void => {
      new Gauge<K>({ name: METRIC_PREFIX + name, help, labelNames, registers, collect() { collect(this); } });
    };
    counter('decisions_total', 'Decisions on workloads and Pods, by mode, kind, action (injected, skipped, released, failed) and reason code', ['mode', 'kind', 'action', 'reason'], (c) => this.decisions.publish(c));
    counter('conflicts_total', 'Writes that lost a race and were retried on a fresh read: 409, or a JSON Patch test failing (422 on 1.13, 500 on 1.9)', ['code'], (c) => this.conflicts.publish(c));
    counter('workqueue_retries_total', 'Syncs that failed and were put back in the work queue with backoff', [], (c) => { c.reset(); c.inc(this.retries); });
    counter('api_throttled_total', 'API answers 429 Too Many Requests seen by the work queue (each halves its concurrency, at most once a second)', [], (c) => { c.reset(); c.inc(this.throttled); });
    counter('informer_relists_total', 'LISTs after the first, by resource: a watch could not be resumed', ['resource'], (c) => this.relists.publish(c));
    counter('informer_watch_restarts_total', 'Watches that ended (server timeout, error) and were started again, by resource', ['resource'], (c) => this.watchRestarts.publish(c));
    counter('events_total', 'Kubernetes Events by type and outcome (created, patched: a repeat counted on the existing Event, dropped: rate limit or full queue, failed)', ['type', 'outcome'], (c) => this.events.publish(c));
    counter('rollouts_total', 'Workload rollouts of a changed MeshConfig (updatePolicy Rollout) by result: started (PATCHed), finished, timed_out, skipped (changed since planned), conflict (a concurrent write; re-planned), failed', ['result'], (c) => this.rollouts.publish(c));
    gauge('workqueue_depth', 'Keys waiting in the work queue (queued or waiting out a retry delay)', [], (g) => g.set(this.queue?.depth() ?? 0));
    gauge('workqueue_in_flight', 'Syncs running now', [], (g) => g.set(this.queue?.inFlight() ?? 0));
    gauge('workqueue_longest_waiting_seconds', 'How long the key that has been in the work queue longest has waited (a workload that keeps failing stays in)', [], (g) => g.set(this.queue?.longestWaitingSeconds() ?? 0));
    gauge('workqueue_concurrency_limit', 'Syncs allowed at once now: --concurrency, or less while the API server answers 429', [], (g) => g.set(this.queue?.concurrencyLimit() ?? 0));
    gauge('meshconfigs', 'MeshConfigs by validity', ['validity'], (g) => {
      let valid = 0;
      for (const reading of this.meshConfigs.values()) if (reading.valid) valid++;
      g.set({ validity: 'valid' }, valid);
      g.set({ validity: 'invalid' }, this.meshConfigs.size - valid);
    });
    gauge('meshconfig_generation', 'The generation of each MeshConfig in use (the last valid one when an edit was invalid); 0 on servers that keep no generation for custom resources (1.9)', ['meshconfig'], (g) => {
      g.reset();
      for (const reading of this.meshConfigs.values()) if (reading.generationInUse !== undefined) g.set({ meshconfig: reading.name }, reading.generationInUse);
    });
    gauge('ready', '1 when /readyz answers 200 (caches synced, MeshConfigs readable), else 0', [], (g) => g.set(this.ready() ? 1 : 0));
    gauge('leader', '1 when this replica is the one that writes (always 1 without leader election, and in webhook mode)', [], (g) => g.set(this.leader));
    this.syncDuration = new Histogram({ name: `${METRIC_PREFIX}sync_duration_seconds`, help: 'Initializer mode: one sync, from reading the cache to the PATCH answered (conflict re-reads included)', buckets: DURATION_BUCKETS, registers });
    this.admissionDuration = new Histogram({ name: `${METRIC_PREFIX}admission_duration_seconds`, help: 'Webhook mode: one AdmissionReview, from the body read to the answer', buckets: DURATION_BUCKETS, registers });
    this.waitDuration = new Histogram({
      name: `${METRIC_PREFIX}workload_wait_seconds`,
      help: 'Initializer mode: from the object\'s creationTimestamp (1 s resolution) to meshinit releasing it; how long its creator waited for meshinit',
      buckets: WAIT_BUCKETS,
      registers,
    });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition format, as Prometheus scrapes it. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** One decision. O(1): a string key and a Map lookup. */
  decision(mode: DecisionMode, kind: string, action: DecisionAction, code: ReasonCode | string): void {
    const boundedKind = METRIC_KINDS.includes(kind) ? kind : 'other';
    const reason = boundedReasonCode(code);
    this.decisions.add(`${mode}|${boundedKind}|${action}|${reason}`, () => ({ mode, kind: boundedKind, action, reason }));
  }

  syncSeconds(seconds: number): void {
    this.syncDuration.observe(seconds);
  }

  admissionSeconds(seconds: number): void {
    this.admissionDuration.observe(seconds);
  }

  /** From creationTimestamp to release; a timestamp that cannot be read is not a sample. */
  workloadWaited(creationTimestamp: unknown, nowMs: number): void {
    if (typeof creationTimestamp !== 'string') return;
    // A burst's workloads share their creation second: parse each second once.
    if (creationTimestamp !== this.lastCreation) {
      this.lastCreation = creationTimestamp;
      this.lastCreationMs = Date.parse(creationTimestamp);
    }
    const created = this.lastCreationMs;
    if (!Number.isFinite(created)) return;
    // A clock behind the server's makes small negative waits: they mean "at once".
    this.waitDuration.observe(Math.max(0, (nowMs - created) / 1000));
  }

  conflict(code: ConflictCode): void {
    this.conflicts.add(code, () => ({ code }));
  }

  rollout(result: RolloutResult): void {
    this.rollouts.add(result, () => ({ result }));
  }

  retried(throttled: boolean): void {
    this.retries++;
    if (throttled) this.throttled++;
  }

  relisted(resource: string): void {
    this.relists.add(resource, () => ({ resource }));
  }

  watchRestarted(resource: string): void {
    this.watchRestarts.add(resource, () => ({ resource }));
  }

  event(type: 'Normal' | 'Warning', outcome: EventOutcome): void {
    this.events.add(`${type}|${outcome}`, () => ({ type, outcome }));
  }

  meshConfigRead(reading: MeshConfigReading): void {
    this.meshConfigs.set(reading.name, reading);
  }

  meshConfigRemoved(name: string): void {
    this.meshConfigs.delete(name);
  }

  /**
   * Whether this replica is the active one. Leader election calls it on every change; without
   * election (one replica, webhook mode) it stays 1, the value a lone replica has.
   */
  setLeader(active: boolean): void {
    this.leader = active ? 1 : 0;
  }

  observeQueue(queue: QueueGauges): void {
    this.queue = queue;
  }

  /** What /readyz says, as a gauge: alert rules can tell "not ready" from "absent". */
  observeReadiness(ready: () => boolean): void {
    this.ready = ready;
  }
}
