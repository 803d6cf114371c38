// nativeSidecar where there is no server to ask (offline inject and explain take --kube-version),
// and the I/O side of the controller: the version discovered at start-up, and the MeshConfigStore
// saying once per change when a MeshConfig is not injected in the layout it asks for.
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { knownServer } from '../../controller/core/native-sidecar.ts';
import { discoverServer } from '../../controller/kube/discovery.ts';
import { MeshConfigStore } from '../../controller/kube/meshconfig-store.ts';
import type { KubeApi } from '../../controller/kube/types.ts';
import { createMemoryLogger } from '../../controller/logger.ts';
import { runExplain, runInject, stderrLines } from './helpers.ts';

const JOB = `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  namespace: shop
spec:
  template:
    spec:
      restartPolicy: Never
      initContainers:
        - name: fetch
          image: example/fetch:1
      containers:
        - name: work
          image: example/work:1
`;

function meshConfigYaml(nativeSidecar: string, failurePolicy = 'Ignore'): string {
  return `apiVersion: meshinit.dev/v1alpha1
kind: MeshConfig
metadata:
  name: jobs
spec:
  failurePolicy: ${failurePolicy}
  sidecar:
    nativeSidecar: ${nativeSidecar}
    initContainers:
      - name: mesh-init
        image: example/proxy-init:1
    containers:
      - name: mesh-proxy
        image: example/proxy:1
`;
}

const FILES = (mode: string, failurePolicy?: string) => ({ files: { 'job.yaml': JOB, 'mc.yaml': meshConfigYaml(mode, failurePolicy) } });

interface Spec { initContainers?: Array<{ name: string; restartPolicy?: string }>; containers: Array<{ name: string }> }

function templateSpec(yaml: string): Spec {
  const [job] = parseAllDocuments(yaml).map((document) => document.toJS() as { spec: { template: { spec: Spec } } });
  return job!.spec.template.spec;
}

describe('nativeSidecar offline and at start-up', () => {
  describe('meshinit inject --kube-version', () => {
    it('Auto with --kube-version 1.30: the proxy as an init container with restartPolicy Always, after the sidecar\'s init and before the Job\'s', async () => {
      const result = await runInject(['-f', 'job.yaml', '--meshconfig', 'mc.yaml', '--kube-version', '1.30'], FILES('Auto'));
      expect(result.code, result.stderr).to.equal(0);
      expect(result.stderr).to.equal('');
      const spec = templateSpec(result.stdout);
      expect(spec.initContainers!.map((c) => `${c.name}${c.restartPolicy ? `:${c.restartPolicy}` : ''}`)).to.deep.equal(['mesh-init', 'mesh-proxy:Always', 'fetch']);
      expect(spec.containers.map((c) => c.name)).to.deep.equal(['work']);
    });

    it('Auto without --kube-version, or with 1.28: regular containers, and one note saying why and how to get native sidecars', async () => {
      const without = await runInject(['-f', 'job.yaml', '--meshconfig', 'mc.yaml'], FILES('Auto'));
      expect(without.code).to.equal(0);
      expect(templateSpec(without.stdout).containers.map((c) => c.name)).to.deep.equal(['work', 'mesh-proxy']);
      expect(stderrLines(without)).to.deep.equal([
        'meshinit: note: MeshConfig jobs: nativeSidecar Auto: no --kube-version was given, so the sidecar is injected as regular containers; ' +
          'give the server\'s version (--kube-version 1.29 or newer) to inject native sidecars',
      ]);
      const old = await runInject(['-f', 'job.yaml', '--meshconfig', 'mc.yaml', '--kube-version', 'v1.28.3'], FILES('Auto'));
      expect(templateSpec(old.stdout).containers.map((c) => c.name)).to.deep.equal(['work', 'mesh-proxy']);
      expect(old.stderr).to.include('the API server is v1.28.3 and native sidecars');
    });

    it('Always with --kube-version 1.13 and failurePolicy Fail: exit 1 with the reason; with Ignore the Job is printed unchanged with a warning', async () => {
      const failed = await runInject(['-f', 'job.yaml', '--meshconfig', 'mc.yaml', '--kube-version', '1.13'], FILES('Always', 'Fail'));
      expect(failed.code).to.equal(1);
      expect(failed.stdout).to.equal('');
      expect(failed.stderr).to.include('MeshConfig jobs asks for nativeSidecar Always, but the API server is v1.13').and.include('(MeshConfig jobs has failurePolicy Fail)');
      const ignored = await runInject(['-f', 'job.yaml', '--meshconfig', 'mc.yaml', '--kube-version', '1.13'], FILES('Always'));
      expect(ignored.code).to.equal(0);
      expect(ignored.stdout).to.equal(JOB);
      expect(ignored.stderr).to.include('printed unchanged (MeshConfig jobs has failurePolicy Ignore)');
    });

    it('refuses a malformed --kube-version with exit 2', async () => {
      const result = await runInject(['-f', 'job.yaml', '--meshconfig', 'mc.yaml', '--kube-version', 'latest'], FILES('Auto'));
      expect(result.code).to.equal(2);
      expect(result.stderr).to.include('--kube-version must be a Kubernetes version such as 1.30 or v1.30.2, got "latest"');
    });
  });

  describe('meshinit explain --kube-version', () => {
    it('-f: the layout in text and JSON; unknown without the flag, with how to get native sidecars', async () => {
      const text = await runExplain(['-f', 'job.yaml', '--meshconfig', 'mc.yaml', '--kube-version', '1.36'], FILES('Auto'));
      expect(text.code, text.stderr).to.equal(0);
      expect(text.stdout).to.include('  Sidecar layout (nativeSidecar Auto, server v1.36): native sidecars (its containers as init containers with restartPolicy Always)\n');
      const json = await runExplain(['-f', 'job.yaml', '--meshconfig', 'mc.yaml', '-o', 'json'], FILES('Auto'));
      const layout = (JSON.parse(json.stdout) as { explanations: Array<{ sidecarLayout: Record<string, string> }> }).explanations[0]!.sidecarLayout;
      expect(layout).to.deep.include({ nativeSidecar: 'Auto', layout: 'containers', server: 'unknown (no --kube-version was given)' });
      expect(layout.note).to.include('--kube-version 1.29 or newer');
    });

    it('live: --kube-version is refused (the server is asked)', async () => {
      const result = await runExplain(['job/migrate', '--kube-version', '1.30']);
      expect(result.code).to.equal(2);
      expect(result.stderr).to.include('--kube-version is for -f: live, the server\'s own version is read');
    });
  });

  describe('the server version at start-up', () => {
    function api(answer: unknown): KubeApi {
      return { get: () => Promise.resolve(answer) } as unknown as KubeApi;
    }

    it('reads GET /version, the "+" minors of managed clusters included, and says what it means for native sidecars', async () => {
      const modern = await discoverServer(api({ major: '1', minor: '36+', gitVersion: 'v1.36.3-gke.1' }));
      expect(modern.server).to.deep.equal(knownServer({ major: 1, minor: 36, gitVersion: 'v1.36.3-gke.1' }));
      expect(modern.nativeSidecars).to.match(/^supported: /);
      const old = await discoverServer(api({ major: '1', minor: '13', gitVersion: 'v1.13.0' }));
      expect(old.nativeSidecars).to.match(/^not supported \(Kubernetes 1\.29\+\)/);
      const odd = await discoverServer(api({ gitVersion: 'master' }));
      expect(odd.server.known).to.equal(false);
      expect(odd.nativeSidecars).to.match(/^unknown: /);
    });
  });

  describe('MeshConfigStore', () => {
    const raw = (mode: string, resourceVersion: string, extra: Record<string, unknown> = {}) => ({
      apiVersion: 'meshinit.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'jobs', generation: 1, resourceVersion },
      spec: { sidecar: { nativeSidecar: mode, containers: [{ name: 'mesh-proxy', image: 'example/proxy:1' }] }, ...extra },
    });
    const layoutLines = (log: ReturnType<typeof createMemoryLogger>) =>
      log.lines.filter((line) => line.message.startsWith('MeshConfig sidecar layout')).map((line): Record<string, unknown> => ({ level: line.level, message: line.message, ...line.fields }));

    it('on an old server says once per change that Auto falls back, with the name, the server and what to do; Always at warn', () => {
      const log = createMemoryLogger();
      const store = new MeshConfigStore(log, knownServer({ major: 1, minor: 13, gitVersion: 'v1.13.0' }));
      store.apply(raw('Auto', '1'));
      // A status write is a new resourceVersion of the same spec: nothing new to say.
      store.apply(raw('Auto', '2'));
      expect(layoutLines(log)).to.have.length(1);
      expect(layoutLines(log)[0]).to.deep.include({
        level: 'info', message: 'MeshConfig sidecar layout differs from what it asks', meshConfig: 'jobs', nativeSidecar: 'Auto', layout: 'containers', serverVersion: 'v1.13.0',
      });
      expect(String(layoutLines(log)[0]!.reason)).to.include('stop the proxy from the Job, or opt Jobs out');
      store.apply(raw('Always', '3'));
      expect(layoutLines(log)[1]).to.deep.include({ level: 'warn', message: 'MeshConfig sidecar layout unsupported by this server: its workloads are not injected', nativeSidecar: 'Always' });
      expect(store.list()[0]!.layout.refusal).to.include('set spec.sidecar.nativeSidecar to Auto');
    });

    it('on a 1.29+ server Auto is what was asked: nothing to say, and the MeshConfigs it hands out carry the native layout', () => {
      const log = createMemoryLogger();
      const store = new MeshConfigStore(log, knownServer({ major: 1, minor: 29, gitVersion: 'v1.29.0' }));
      store.apply(raw('Auto', '1'));
      expect(layoutLines(log)).to.deep.equal([]);
      expect(store.list()[0]!.layout).to.include({ effective: 'native' });
      expect(store.list()[0]!.layout.sidecar.initContainers.map((c) => c.restartPolicy)).to.deep.equal(['Always']);
    });
  });
});
