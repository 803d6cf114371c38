// `meshinit inject` output as users apply it: the built CLI injects real-world-shaped manifests
// (a kubectl List kept as a List, kubectl JSON kept as JSON, CRLF line endings, anchors and an
// alias written out, Helm output, Istio-style inputs), `kubectl apply -f` sends the output to a
// real kube-apiserver, and the objects read back hold the sidecar. Proves that output which keeps
// the user's formatting is still what kubectl and every server release accept.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { LEGACY_RELEASES, startControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { repoRoot } from '../support/transcripts.ts';
import { mustKubectl, type Json } from './cluster.ts';

const MESHCONFIG = 'test/cli/golden/meshconfig.yaml';

/** Inputs with only built-in kinds (a server without CRDs knows them all) and what to read back. */
const INPUTS: Array<{ file: string; crlf?: boolean; check: Array<{ resource: string; namespace: string; name: string }> }> = [
  { file: 'test/cli/realworld/istio-hello.yaml', check: [{ resource: 'deployment', namespace: 'default', name: 'hello' }] },
  { file: 'test/cli/realworld/k8s-docs.yaml', crlf: true, check: [{ resource: 'statefulset', namespace: 'default', name: 'web' }] },
  { file: 'test/cli/realworld/ingress-nginx.yaml', check: [{ resource: 'deployment', namespace: 'ingress-nginx', name: 'ingress-nginx-controller' }, { resource: 'job', namespace: 'ingress-nginx', name: 'ingress-nginx-admission-create' }] },
  { file: 'test/cli/realworld/helm-rendered.yaml', check: [{ resource: 'deployment', namespace: 'default', name: 'my-podinfo' }] },
  { file: 'test/cli/realworld/kubectl-list.yaml', check: [{ resource: 'daemonset', namespace: 'logging', name: 'fluentd-elasticsearch' }] },
  { file: 'test/cli/realworld/kubectl-get.json', check: [{ resource: 'deployment', namespace: 'cache', name: 'redis' }] },
  { file: 'test/cli/golden/aliases.yaml', check: [{ resource: 'deployment', namespace: 'shop', name: 'web' }, { resource: 'deployment', namespace: 'shop', name: 'web-canary' }] },
];

for (const release of [...LEGACY_RELEASES, undefined]) {
  const label = release ?? 'v1.36.3 (modern)';
  describe(`meshinit inject output applied with kubectl on a real kube-apiserver ${label}`, function () {
    this.timeout(180_000);
    let plane: ControlPlane;
    let dir: string;
    // The docs' StatefulSet has minReadySeconds (1.22+), which kubectl's validation against an
    // older server's schema refuses; that server drops the field, as for any user on it.
    const validate = release !== undefined ? ['--validate=false'] : [];

    before(async function () {
      plane = await startControlPlane(release ? { release } : {});
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshinit-e2e-inject-'));
      for (const namespace of ['logging', 'cache', 'shop']) await mustKubectl(plane.adminKubeconfigPath, ['create', 'namespace', namespace]);
    });

    after(async function () {
      await plane?.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    for (const input of INPUTS) {
      it(`${path.basename(input.file)}${input.crlf ? ' (CRLF)' : ''}: kubectl apply takes the injected file, the objects hold the sidecar`, async function () {
        const source = fs.readFileSync(path.join(repoRoot, input.file), 'utf8');
        const name = path.basename(input.file);
        const original = path.join(dir, name);
        fs.writeFileSync(original, input.crlf ? source.replace(/\n/g, '\r\n') : source);
        const injected = spawnSync(process.execPath, [path.join(repoRoot, 'bin/meshinit.js'), 'inject', '-f', original, '--meshconfig', MESHCONFIG], { cwd: repoRoot, encoding: 'utf8' });
        expect(injected.status, injected.stderr).to.equal(0);
        if (input.crlf) expect(injected.stdout, 'CRLF kept').to.not.match(/[^\r]\n/);
        if (name.endsWith('.json')) expect(() => JSON.parse(injected.stdout) as unknown, 'JSON kept').to.not.throw();
        const output = path.join(dir, `injected-${name}`);
        fs.writeFileSync(output, injected.stdout);
        await mustKubectl(plane.adminKubeconfigPath, ['apply', ...validate, '-f', output]);
        for (const object of input.check) {
          const got = await mustKubectl(plane.adminKubeconfigPath, ['get', object.resource, object.name, '-n', object.namespace, '-o', 'json']);
          const template = (JSON.parse(got.stdout) as { spec: { template: { metadata: { annotations?: Json }; spec: { containers: Array<{ name: string }>; initContainers?: Array<{ name: string }> } } } }).spec.template;
          expect(template.spec.containers.map((c) => c.name), `${object.resource}/${object.name}`).to.include('mesh-proxy');
          expect((template.spec.initContainers ?? []).map((c) => c.name)).to.include('mesh-init');
          expect(template.metadata.annotations ?? {}).to.have.property('sidecar.meshinit.dev/status');
        }
      });
    }
  });
}
