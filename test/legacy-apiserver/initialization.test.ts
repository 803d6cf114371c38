// The double against the recordings of fixtures 02-13, on both recorded servers: the same requests,
// then the answers compared with what the real server said (status code, and the body apart from
// uid, creationTimestamp and resourceVersion, which differ between any two runs).
import { expect } from 'chai';
import type { Flavor, Reply } from '../support/legacy-apiserver/index.ts';
import { loadWatchEvents, readFixture } from '../support/transcripts.ts';
import { comparable, fixtureDir, recorded, replaySession, RECORDED_INITIALIZER, type Session } from './replay.ts';

type Json = Record<string, unknown>;

function sameAsRecorded(reply: Reply | undefined, flavor: Flavor, file: string): void {
  const real = recorded(flavor, file);
  expect(reply, file).to.not.equal(undefined);
  expect(reply!.status, `${file}: status`).to.equal(real.statusCode);
  expect(comparable(reply!.json), `${file}: body`).to.deep.equal(comparable(real.body));
}

function names(reply: Reply | undefined): string[] {
  return ((reply?.json as { items?: Json[] }).items ?? []).map((item) => (item.metadata as Json).name as string);
}

for (const flavor of ['1.13', '1.9'] as const) {
  describe(`legacy API server double: initialization, compared with the recorded ${flavor} server`, function () {
    let session: Session;
    const reply = (id: string): Reply | undefined => session.replies.get(id);

    before(async function () {
      session = await replaySession(flavor);
    });

    after(async function () {
      await session?.close();
    });

    it('02: a create no initializer holds is 201 and initialized, with the server defaults', function () {
      sameAsRecorded(reply('02'), flavor, flavor === '1.13' ? '02-post-demo-a-two-rule-config.txt' : '02-post-blocking.txt');
    });

    it('04: a plain create of a held object blocks, then answers 504 Timeout; the object stays pending', function () {
      sameAsRecorded(reply('04'), flavor, '04-post-blocking.txt');
      // The timed-out object is kept, still pending (what 05a then reads).
      expect(((reply('05a')!.json as Json).metadata as Json).initializers).to.deep.equal({ pending: [{ name: RECORDED_INITIALIZER }] });
    });

    it('05a/05b: GET by name shows the uninitialized object, with or without the flag', function () {
      sameAsRecorded(reply('05a'), flavor, '05a-get-without-flag.txt');
      sameAsRecorded(reply('05b'), flavor, '05b-get-with-flag.txt');
    });

    it('05c/05d: LIST hides it unless includeUninitialized=true; items carry no kind/apiVersion', function () {
      if (flavor === '1.13') {
        sameAsRecorded(reply('05c'), flavor, '05c-list-without-flag.txt');
        sameAsRecorded(reply('05d'), flavor, '05d-list-with-flag.txt');
        // The list's resourceVersion is the store's latest: demo-b's, the last write.
        const list = reply('05d')!.json as { metadata: Json; items: Json[] };
        expect(list.metadata.resourceVersion).to.equal((list.items[1]!.metadata as Json).resourceVersion);
      } else {
        // 1.9 recorded only the names (05c-list.txt).
        const text = readFixture('v1.9/05c-list.txt');
        expect(text).to.include(`LIST w/o flag: ${JSON.stringify(names(reply('05c'))).replaceAll('"', "'")}`);
        expect(text).to.include(`('demo-b', {'pending': [{'name': '${RECORDED_INITIALIZER}'}]})`);
        expect(names(reply('05d'))).to.deep.equal(['demo-a', 'demo-b']);
      }
      for (const item of (reply('05d')!.json as { items: Json[] }).items) expect(item).to.not.have.any.keys('kind', 'apiVersion');
    });

    it('06a: ?includeUninitialized=true answers 202 at once on 1.13 and is ignored (blocks, 504) on 1.9', function () {
      sameAsRecorded(reply('06a'), flavor, '06a-post-includeUninit-true.txt');
    });

    it('06b/06c: ?includeUninitialized=1 answers 202; ?timeout=5s blocks and names 5s (1.13)', function () {
      sameAsRecorded(reply('06b'), flavor, '06b-post-includeUninit-1.txt');
      sameAsRecorded(reply('06c'), flavor, '06c-post-timeout5s.txt');
    });

    it('07a/07b: a strategic merge patch deleting our pending entry initializes; the new container comes first; the blocked creator gets 201', function () {
      sameAsRecorded(reply('07b'), flavor, '07b-smp-patch-f.txt');
      sameAsRecorded(reply('07a'), flavor, '07a-post-f-blocked-then-initialized.txt');
    });

    it('08/09/10: merge patch (initializers: null), JSON Patch (test + remove pending/0) and SMP (initializers: null) all initialize', function () {
      sameAsRecorded(reply('08'), flavor, '08-merge-patch-d.txt');
      sameAsRecorded(reply('09'), flavor, '09-json-patch-c.txt');
      sameAsRecorded(reply('10'), flavor, '10-smp-null-b.txt');
    });

    it('11: afterwards LIST without the flag shows every initialized Deployment as recorded', function () {
      sameAsRecorded(reply('11'), flavor, '11-list-without-flag-after.txt');
    });

    it('12a: a Success result is refused with the recorded 422', function () {
      sameAsRecorded(reply('12a'), flavor, '12a-result-success-invalid.txt');
    });

    it('12b-f: a Failure result is stored (200), then the object is deleted; the blocked creator gets the result', function () {
      sameAsRecorded(reply('12c'), flavor, '12c-patch-g-result-failure.txt');
      sameAsRecorded(reply('12b'), flavor, '12b-post-g-blocked-then-failed.txt');
      sameAsRecorded(reply('12d'), flavor, '12d-get-g-after-failure.txt');
      sameAsRecorded(reply('12e'), flavor, '12e-patch-e-result-failure-nowaiter.txt');
      sameAsRecorded(reply('12f'), flavor, '12f-get-e-after-failure.txt');
      const gEvents = session.server.requests.filter((r) => r.object?.name === 'demo-g' && r.trace);
      expect(gEvents.at(-1)?.trace?.pendingAfter).to.equal(null);
    });

    it('13a/13b: a watch with the flag sees ADDED (pending) then MODIFIED; without it one ADDED once initialized', function () {
      expect(reply('13-post')?.status).to.equal(202);
      expect(reply('13-patch')?.status).to.equal(200);
      const strip = (events: Array<{ type: string; object: unknown }>) => events.map((e) => ({ type: e.type, object: comparable(e.object) }));
      expect(strip(session.watchWithFlag)).to.deep.equal(strip(loadWatchEvents(`${fixtureDir(flavor)}/13a-watch-with-flag.jsonl`)));
      expect(strip(session.watchWithoutFlag)).to.deep.equal(strip(loadWatchEvents(`${fixtureDir(flavor)}/13b-watch-without-flag.jsonl`)));
      // Watch events, unlike list items, carry kind and apiVersion.
      expect(session.watchWithFlag[0]!.object).to.include({ kind: 'Deployment', apiVersion: 'apps/v1' });
    });

    it('keeps one global resourceVersion counter: every write gets a higher one', function () {
      const versions = ['02', '06b', '07b', '08', '09', '10', '12c', '12e'].map((id) => Number(((reply(id)!.json as Json).metadata as Json).resourceVersion));
      expect([...versions].sort((a, b) => a - b)).to.deep.equal(versions);
      expect(new Set(versions).size).to.equal(versions.length);
    });
  });
}
