// Keeps a recent reading of which sidecar each workload's Pods carry (webhook --target pods), for
// the rollout of a changed MeshConfig: a scan (kube/pod-scan.ts) every periodMs, and soon after a
// MeshConfig changes, but only on the leader and only while some MeshConfig with updatePolicy:
// Rollout is not paused. Otherwise no Pod is read and no reading is kept: OnCreate clusters pay
// nothing, and a reading taken before a pause or a lost lease is never acted on later.
import type { PodMarks } from '../core/pod-marks.ts';
import type { Logger } from '../logger.ts';
import { isKubeApiError } from './errors.ts';

/** A rollout moves at most maxPerMinute workloads a minute: a reading this fresh is fresh enough. */
export const POD_SCAN_PERIOD_MS = 15_000;

export interface PodMarksRefresherDeps {
  scan: () => Promise<PodMarks>;
  log: Logger;
  /** Whether any MeshConfig in force asks for a rollout now (updatePolicy Rollout, not paused). */
  needed: () => boolean;
  isLeader: () => boolean;
  /** After each successful scan: the rollout plans at once from the new reading. */
  onScanned: () => void;
  periodMs?: number;
}

export class PodMarksRefresher {
  private latest: PodMarks | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private lastError: string | undefined;

  constructor(private readonly deps: PodMarksRefresherDeps) {}

  /** The last reading, if it is still wanted; undefined before the first scan and whenever none is needed. */
  marks(): PodMarks | undefined {
    return this.deps.needed() && this.deps.isLeader() ? this.latest : undefined;
  }

  start(): void {
    this.schedule(0);
  }

  /** A MeshConfig changed: read the Pods again soon rather than at the end of the period. */
  requestScan(): void {
    if (!this.stopped && this.running === undefined) this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.running;
  }

  /** One scan now, unless one is running; resolves when it is done (tests, requestScan). */
  refresh(): Promise<void> {
    this.running ??= this.scanOnce().finally(() => { this.running = undefined; });
    return this.running;
  }

  private schedule(delayMs: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.refresh().finally(() => {
        if (!this.stopped) this.schedule(this.deps.periodMs ?? POD_SCAN_PERIOD_MS);
      });
    }, delayMs);
  }

  private async scanOnce(): Promise<void> {
    if (this.stopped || !this.deps.needed() || !this.deps.isLeader()) {
      this.latest = undefined;
      return;
    }
    const started = performance.now();
    try {
      const marks = await this.deps.scan();
      if (this.stopped) return;
      this.latest = marks;
      this.lastError = undefined;
      this.deps.log.debug('Pods read for the rollout', { pods: marks.pods, injectedPods: marks.injectedPods, workloads: marks.workloads, durationMs: Math.round(performance.now() - started) });
      this.deps.onScanned();
    } catch (error) {
      // Keep the last reading: it only ever makes the rollout wait (the ledger and the fresh GET
      // before each PATCH keep it from acting twice). Say each distinct failure once, not every period.
      const message = error instanceof Error ? error.message : String(error);
      if (message === this.lastError) return;
      this.lastError = message;
      const forbidden = isKubeApiError(error) && error.statusCode === 403;
      this.deps.log.warn('Cannot read Pods for the rollout', {
        reason: message,
        fix: forbidden
          ? 'with --target pods a rollout reads Pods and patches workloads: kubectl apply -f manifests/webhook/rollout-rbac.yaml'
          : 'retried every period; the rollout waits meanwhile',
      });
    }
  }
}
