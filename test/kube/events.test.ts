// Warning Events are best effort and must not compete with the PATCHes that workloads wait for: a
// burst of released Jobs sends its Events a few at a time, and drops (and says so) past a bound.
import { expect } from 'chai';
import { createEventRecorder } from '../../controller/kube/events.ts';
import { createMemoryLogger } from '../../controller/logger.ts';
import type { KubeApi } from '../../controller/kube/types.ts';

function slowApi(): { api: KubeApi; posts: () => number; peak: () => number; finishAll: () => void } {
  let inFlight = 0;
  let peak = 0;
  let posts = 0;
  const pending: Array<() => void> = [];
  const api = {
    post: () => {
      posts++;
      inFlight++;
      peak = Math.max(peak, inFlight);
      return new Promise((resolve) => pending.push(() => { inFlight--; resolve({}); }));
    },
  } as unknown as KubeApi;
  return { api, posts: () => posts, peak: () => peak, finishAll: () => { while (pending.length) pending.shift()!(); } };
}

const job = (i: number) => ({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: `job-${i}`, namespace: 'default', uid: `u${i}` } });

describe('Warning Events', function () {
  it('sends a burst of 1,000 at most two at a time, all of them in the end', async function () {
    const server = slowApi();
    const recorder = createEventRecorder(server.api, createMemoryLogger(), { maxQueued: 2000 });
    for (let i = 0; i < 1000; i++) recorder.warning(job(i), 'SidecarNotInjected', 'released');
    expect(server.posts(), 'before any answer').to.equal(2);
    while (server.posts() < 1000) {
      server.finishAll();
      await new Promise((resolve) => setImmediate(resolve));
    }
    server.finishAll();
    expect(server.peak()).to.equal(2);
  });

  it('drops past the bound, and logs the drop', function () {
    const server = slowApi();
    const log = createMemoryLogger();
    const recorder = createEventRecorder(server.api, log, { maxInFlight: 1, maxQueued: 10 });
    for (let i = 0; i < 50; i++) recorder.warning(job(i), 'SidecarNotInjected', 'released');
    expect(server.posts()).to.equal(1);
    const dropped = log.lines.filter((l) => l.message === 'Events dropped');
    expect(dropped).to.have.length(1);
    expect(dropped[0]!.level).to.equal('warn');
  });
});
