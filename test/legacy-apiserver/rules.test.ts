// The double against the recordings of the server's rules (fixtures 14, 17, 18, 19, 20, 21), on
// both recorded servers. Those recordings are summaries or elide long bodies, so the checks read
// the recorded status codes, messages and fields from them and compare what the double answers.
import { expect } from 'chai';
import { LegacyApiServer, TestClient, type Flavor } from '../support/legacy-apiserver/index.ts';
import { loadTranscript, readFixture } from '../support/transcripts.ts';
import { DEPLOYMENTS, fixtureDir, PATCH_TYPES, RECORDED_INITIALIZER, request } from './replay.ts';

type Json = Record<string, unknown>;

/** The recorded summary line starting with `prefix` (14, 18, 19 are written as one line per step). */
function line(flavor: Flavor, file: string, prefix: string): string {
  const found = readFixture(`${fixtureDir(flavor)}/${file}`).split('\n').find((l) => l.startsWith(prefix));
  if (!found) throw new Error(`${file}: no line starting with ${JSON.stringify(prefix)}`);
  return found;
}

function code(text: string): number {
  const match = /-> +(\d{3})\b/.exec(text) ?? /^HTTP\/[\d.]+ (\d{3})/m.exec(text);
  if (!match) throw new Error(`no status code in ${JSON.stringify(text)}`);
  return Number(match[1]);
}

/** Every `"message": "...` in a recording whose JSON was cut: the text up to the cut, unescaped. */
function cutMessages(flavor: Flavor, file: string): string[] {
  return [...readFixture(`${fixtureDir(flavor)}/${file}`).matchAll(/"message": "(.*)$/gm)].map((m) =>
    m[1]!.replace(/\\$/, '').replace(/",?$/, '').replaceAll('\\u003c', '<').replaceAll('\\u003e', '>').replaceAll('\\"', '"'));
}

/** HTTP status codes of the responses in a recording, in order. */
function statusCodes(flavor: Flavor, file: string): number[] {
  return [...readFixture(`${fixtureDir(flavor)}/${file}`).matchAll(/^HTTP\/[\d.]+ (\d{3})/gm)].map((m) => Number(m[1]));
}

const template = { metadata: { labels: { app: 'probe' } }, spec: { containers: [{ name: 'app', image: 'nginx:1.13' }] } };
const sidecar = { name: 'sidecar', image: 'busybox:1.28' };

for (const flavor of ['1.13', '1.9'] as const) {
  describe(`legacy API server double: server rules, compared with the recorded ${flavor} server`, function () {
    let server: LegacyApiServer;
    let client: TestClient;

    beforeEach(async function () {
      server = new LegacyApiServer({ flavor, initializers: [{ name: RECORDED_INITIALIZER, resources: ['deployments', 'statefulsets', 'daemonsets', 'jobs'] }] });
      client = new TestClient(await server.start(), { token: 'rules' });
      await server.seed('namespaces', { metadata: { name: 'default' } });
    });

    afterEach(async function () {
      client.close();
      await server.stop();
    });

    it('14: StatefulSets, DaemonSets and Jobs are held as Deployments are', async function () {
      for (const [kind, group, plural] of [['statefulset', 'apps', 'statefulsets'], ['daemonset', 'apps', 'daemonsets'], ['job', 'batch', 'jobs']] as const) {
        const recorded = line(flavor, '14-misc.txt', `POST ${kind} `);
        const spec = kind === 'job' ? { template: { ...template, spec: { ...template.spec, restartPolicy: 'Never' } } } : { selector: { matchLabels: { app: 'probe' } }, template, ...(kind === 'statefulset' ? { serviceName: 'probe' } : {}) };
        const reply = await client.post(`/apis/${group}/v1/namespaces/default/${plural}`, { metadata: { name: `${kind}1` }, spec }, { includeUninitialized: '1' });
        expect(reply.status, recorded).to.equal(code(recorded));
        expect(recorded).to.include(`{'pending': [{'name': '${RECORDED_INITIALIZER}'}]}`);
        expect(((reply.json as Json).metadata as Json).initializers).to.deep.equal({ pending: [{ name: RECORDED_INITIALIZER }] });
      }
    });

    it('14: an explicit initializers block replaces the configured one; {} bypasses initialization', async function () {
      const bypass = await client.post(DEPLOYMENTS, { ...(request('deploy-k.json') as Json), metadata: { name: 'demo-bypass', initializers: {} } });
      const bypassLine = line(flavor, '14-misc.txt', 'POST deployment with metadata.initializers={}');
      expect(bypass.status).to.equal(code(bypassLine));
      expect(bypassLine).to.match(/initializers=None|None$/);
      expect((bypass.json as { metadata: Json }).metadata).to.not.have.property('initializers');

      const explicit = await client.post(DEPLOYMENTS, { ...(request('deploy-k.json') as Json), metadata: { name: 'demo-two', initializers: { pending: [{ name: 'first.initializer.example.com' }, { name: 'second.initializer.example.com' }] } } }, { includeUninitialized: '1' });
      const explicitLine = line(flavor, '14-misc.txt', 'POST deployment with explicit pending');
      expect(explicit.status).to.equal(code(explicitLine));
      expect(explicitLine).to.include("{'pending': [{'name': 'first.initializer.example.com'}, {'name': 'second.initializer.example.com'}]}");

      const smp = await client.patch(`${DEPLOYMENTS}/demo-two`, { metadata: { initializers: { pending: [{ $patch: 'delete', name: 'first.initializer.example.com' }] } } }, PATCH_TYPES.strategic);
      const smpLine = line(flavor, '14-misc.txt', 'SMP remove only first of two pending');
      expect(smp.status).to.equal(code(smpLine));
      expect(smpLine).to.include("{'pending': [{'name': 'second.initializer.example.com'}]}");
      expect(((smp.json as Json).metadata as Json).initializers).to.deep.equal({ pending: [{ name: 'second.initializer.example.com' }] });

      const list = await client.get(DEPLOYMENTS);
      expect(line(flavor, '14-misc.txt', 'LIST without flag contains demo-two?')).to.match(/False$/);
      expect(((list.json as { items: Json[] }).items).map((item) => (item.metadata as Json).name)).to.not.include('demo-two');
    });

    it('14: initializers cannot come back once initialization has completed (422, recorded message)', async function () {
      server.setInitializers([]);
      await client.post(DEPLOYMENTS, request('deploy-a.json'));
      const reply = await client.patch(`${DEPLOYMENTS}/demo-a`, { metadata: { initializers: { pending: [{ name: RECORDED_INITIALIZER }] } } }, PATCH_TYPES.merge);
      const recorded = line(flavor, '14-misc.txt', 're-add initializers to');
      expect(reply.status).to.equal(code(recorded));
      expect(recorded.endsWith((reply.json as Json).message as string)).to.equal(true);
    });

    it('14: PUT on an uninitialized object keeps pending; DELETE of an uninitialized object is 200', async function () {
      const created = await client.post('/apis/apps/v1/namespaces/default/statefulsets', { metadata: { name: 'ss1' }, spec: { serviceName: 'ss1', selector: { matchLabels: { app: 'probe' } }, template } }, { includeUninitialized: '1' });
      const object = created.json as { metadata: Json };
      object.metadata.labels = { changed: 'yes' };
      const put = await client.request('PUT', '/apis/apps/v1/namespaces/default/statefulsets/ss1', { body: object });
      expect(put.status).to.equal(code(line(flavor, '14-misc.txt', 'PUT ')));
      expect(((put.json as Json).metadata as Json).initializers).to.deep.equal({ pending: [{ name: RECORDED_INITIALIZER }] });
      await client.post('/apis/batch/v1/namespaces/default/jobs', { metadata: { name: 'job1' }, spec: { template: { ...template, spec: { ...template.spec, restartPolicy: 'Never' } } } }, { includeUninitialized: '1' });
      const deleted = await client.request('DELETE', '/apis/batch/v1/namespaces/default/jobs/job1');
      expect(deleted.status).to.equal(code(line(flavor, '14-misc.txt', 'DELETE uninitialized job1')));
      expect(server.get('jobs', 'default', 'job1')).to.equal(undefined);
    });

    it("17: a Job's pod template is immutable even while uninitialized; releasing it alone is accepted", async function () {
      const jobs = '/apis/batch/v1/namespaces/default/jobs';
      const recordedCodes = statusCodes(flavor, '17-job-template-immutable.txt');
      const job = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j1', initializers: { pending: [{ name: 'probe.initializer.example.com' }] } }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'app', image: 'busybox:1.28' }] } } } };
      const answers = [
        await client.post(jobs, job, { includeUninitialized: '1' }),
        await client.patch(`${jobs}/j1`, { metadata: { initializers: { pending: [{ $patch: 'delete', name: 'probe.initializer.example.com' }] } }, spec: { template: { spec: { containers: [sidecar] } } } }, PATCH_TYPES.strategic),
        await client.patch(`${jobs}/j1`, [{ op: 'add', path: '/spec/template/spec/containers/-', value: sidecar }], PATCH_TYPES.json),
        await client.patch(`${jobs}/j1`, [{ op: 'remove', path: '/metadata/initializers/pending/0' }], PATCH_TYPES.json),
      ];
      expect(answers.map((a) => a.status)).to.deep.equal(recordedCodes);
      const [topMessage, causeMessage] = cutMessages(flavor, '17-job-template-immutable.txt');
      const refusal = answers[1]!.json as { message: string; reason: string; details: { name: string; group: string; kind: string; causes: Json[] } };
      expect(refusal.message.startsWith(topMessage!), refusal.message).to.equal(true);
      expect(refusal.message).to.match(/: field is immutable$/);
      expect((refusal.details.causes[0]!.message as string).startsWith(causeMessage!.slice(0, causeMessage!.indexOf('"controller-uid":"') + 18))).to.equal(true);
      expect(refusal).to.deep.include({ reason: 'Invalid' });
      expect(refusal.details).to.deep.include({ name: 'j1', group: 'batch', kind: 'Job' });
      expect(refusal.details.causes[0]).to.include({ reason: 'FieldValueInvalid', field: 'spec.template' });
      expect(answers[2]!.json).to.deep.include({ reason: 'Invalid' });
    });

    it('18: an uninitialized Pod may gain a container in the releasing patch; an initialized one may not', async function () {
      server.setInitializers([{ name: 'probe.initializer.example.com', resources: ['pods'] }]);
      const pods = '/api/v1/namespaces/default/pods';
      const recordedCodes = statusCodes(flavor, '18-pod-uninitialized-patch.txt');
      const created = await client.post(pods, { metadata: { name: 'p1' }, spec: { containers: [{ name: 'app', image: 'nginx:1.13' }] } }, { includeUninitialized: '1' });
      const released = await client.patch(`${pods}/p1`, [{ op: 'remove', path: '/metadata/initializers' }, { op: 'add', path: '/spec/containers/-', value: sidecar }], PATCH_TYPES.json);
      const pod = (await client.get(`${pods}/p1`)).json as { metadata: Json; spec: { containers: Json[] } };
      expect(line(flavor, '18-pod-uninitialized-patch.txt', 'containers')).to.equal(`containers ${JSON.stringify(pod.spec.containers.map((c) => c.name)).replaceAll('"', "'").replace(',', ', ')} initializers None`);
      expect(pod.metadata).to.not.have.property('initializers');
      const refused = await client.patch(`${pods}/p1`, [{ op: 'add', path: '/spec/containers/-', value: { name: 'second', image: 'busybox:1.28' } }], PATCH_TYPES.json);
      expect([created.status, released.status, refused.status]).to.deep.equal(recordedCodes);
      const [message, causeMessage] = cutMessages(flavor, '18-pod-uninitialized-patch.txt');
      const body = refused.json as { message: string; details: { causes: Json[] } };
      expect(body.message).to.equal(message);
      expect(body.details.causes[0]).to.include({ message: causeMessage, field: 'spec.containers', reason: 'FieldValueForbidden' });
    });

    it('19: MeshConfigs: schema enforced on create, unknown fields kept, status and generation as recorded, no strategic merge patch', async function () {
      const mcs = '/apis/meshinit.dev/v1alpha1/meshconfigs';
      const sidecarSpec = { containers: [{ name: 'mesh-proxy', image: 'proxy:1' }] };
      const bad = await client.post(mcs, { apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'bad' }, spec: { policy: 'Sometimes', sidecar: sidecarSpec } });
      const badLine = line(flavor, '19-crd-v1beta1.txt', 'POST MeshConfig with spec.policy: Sometimes');
      expect(bad.status).to.equal(code(badLine));
      const recordedPrefix = badLine.slice(badLine.indexOf('MeshConfig.meshinit.dev'));
      expect(((bad.json as Json).message as string).startsWith(recordedPrefix), (bad.json as Json).message as string).to.equal(true);

      const good = await client.post(mcs, { apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'default' }, spec: { extraField: true, sidecar: sidecarSpec }, status: { observedGeneration: 9 } });
      const goodLine = line(flavor, '19-crd-v1beta1.txt', 'POST MeshConfig valid');
      expect(good.status).to.equal(code(goodLine));
      const stored = good.json as { spec: Json; status?: Json; metadata: Json };
      expect(goodLine).to.include(`stored status: ${stored.status ? `{'observedGeneration': ${stored.status.observedGeneration}}` : 'None'}`);
      expect(goodLine).to.include('extraField kept: True');
      expect(stored.spec.extraField).to.equal(true);

      const viaStatus = await client.patch(`${mcs}/default/status`, { status: { observedGeneration: 1 } }, PATCH_TYPES.merge);
      const statusLine = line(flavor, '19-crd-v1beta1.txt', 'PATCH /status');
      expect(viaStatus.status).to.equal(code(statusLine));
      if (viaStatus.status === 200) expect(statusLine).to.include(`{'observedGeneration': ${((viaStatus.json as Json).status as Json).observedGeneration}}`);
      else expect(viaStatus.text.trim()).to.equal('404 page not found');

      const viaMain = await client.patch(`${mcs}/default`, { status: { observedGeneration: 5 } }, PATCH_TYPES.merge);
      const mainLine = line(flavor, '19-crd-v1beta1.txt', 'PATCH main resource');
      const after = viaMain.json as { status: Json; metadata: Json };
      expect(viaMain.status).to.equal(code(mainLine));
      expect(mainLine).to.include(`status now: {'observedGeneration': ${after.status.observedGeneration}} generation ${after.metadata.generation ?? 0}`);

      const smp = await client.patch(`${mcs}/default`, { spec: { priority: 1 } }, PATCH_TYPES.strategic);
      const smpLine = line(flavor, '19-crd-v1beta1.txt', 'PATCH strategic-merge');
      expect(smp.status).to.equal(code(smpLine));
      expect(smpLine.endsWith((smp.json as Json).message as string)).to.equal(true);
    });

    it('20: discovery serves admissionregistration.k8s.io/v1alpha1 initializerconfigurations (switchable off: 404)', async function () {
      const reply = await client.get('/apis/admissionregistration.k8s.io/v1alpha1');
      const resource = ((reply.json as { resources: Json[] }).resources)[0]!;
      const recordedVerbs = /initializerconfigurations \[([^\]]*)\]/.exec(readFixture(`${fixtureDir(flavor)}/20-discovery.txt`))![1]!.split(', ').map((v) => v.replaceAll("'", ''));
      expect(resource.name).to.equal('initializerconfigurations');
      expect(resource.verbs).to.deep.equal(recordedVerbs);
      server.initializerApi = false;
      expect((await client.get('/apis/admissionregistration.k8s.io/v1alpha1')).status).to.equal(404);
    });

    it('21: a 429 is plain text with Retry-After: 1, not a Status (injected rate and in-flight limit alike)', async function () {
      const real = loadTranscript('v1.13.0/21-burst-429.txt');
      server.configureFaults({ seed: 1, throttleRate: { list: 1 } });
      const throttled = await client.get(DEPLOYMENTS);
      server.configureFaults({ seed: 1, maxInFlight: 1, latencyMs: 50 });
      const [first, second] = await Promise.all([client.get(DEPLOYMENTS), client.get(DEPLOYMENTS)]);
      const limited = first.status === 429 ? first : second;
      for (const reply of [throttled, limited]) {
        expect(reply.status).to.equal(real.statusCode);
        expect(reply.headers['retry-after']).to.equal(real.headers['retry-after']);
        expect(reply.headers['content-type']).to.equal(real.headers['content-type']);
        expect(reply.text).to.equal(real.body);
      }
      expect(server.faults.counts['http-429']).to.equal(1);
      expect(server.faults.counts['inflight-429']).to.equal(1);
    });
  });
}
