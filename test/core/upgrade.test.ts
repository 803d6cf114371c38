import { expect } from 'chai';
import { STATUS_ANNOTATION } from '../../controller/core/constants.ts';
import { injectPod, injectWorkload } from '../../controller/core/inject.ts';
import type { MeshConfig, Workload } from '../../controller/core/types.ts';
import {
  deepFreeze,
  demoDeployment,
  envoyMeshConfig,
  meshConfig,
  mustParse,
  names,
  omit,
  rawEnvoyMeshConfig,
  reportJobPod,
  shopDeployment,
  statusRecord,
} from './fixtures/helpers.ts';

/** The Envoy MeshConfig after an edit of its raw spec, with a new generation. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function editedEnvoy(edit: (spec: any) => void, generation = 4): MeshConfig {
  const raw = rawEnvoyMeshConfig();
  raw.metadata.generation = generation;
  edit(raw.spec);
  return mustParse(raw);
}

function injectedShop(): Workload {
  return injectWorkload(shopDeployment(), envoyMeshConfig()).object;
}

/** Everything in a workload except its pod spec lists and annotations, for "nothing else changed" checks. */
function withoutInjectedParts(workload: Workload): unknown {
  const copy = structuredClone(workload);
  delete copy.metadata.annotations;
  const spec = copy.spec.template.spec as unknown as Record<string, unknown>;
  for (const key of ['initContainers', 'containers', 'volumes', 'imagePullSecrets']) delete spec[key];
  delete copy.spec.template.metadata!.annotations;
  delete copy.spec.template.metadata!.labels;
  return copy;
}

describe('core/inject: idempotency and upgrades', () => {
  describe('idempotency', () => {
    it('injecting an injected Deployment again changes nothing', () => {
      const once = injectedShop();
      const twice = injectWorkload(deepFreeze(structuredClone(once)), envoyMeshConfig());
      expect(twice.changed).to.equal(false);
      expect(twice.object).to.deep.equal(once);
    });

    it('injecting an injected Pod again changes nothing', () => {
      const identity = { kind: 'Job' as const, name: 'nightly-report', namespace: 'shop' };
      const once = injectPod(reportJobPod(), envoyMeshConfig(), identity).object;
      const twice = injectPod(once, envoyMeshConfig(), identity);
      expect(twice.changed).to.equal(false);
      expect(twice.object).to.deep.equal(once);
    });

    it('a new MeshConfig generation with an identical sidecar changes nothing and keeps the recorded generation', () => {
      const once = injectedShop();
      const newer = editedEnvoy((spec) => {
        spec.priority = 99;
        spec.failurePolicy = 'Fail';
      }, 17);
      const result = injectWorkload(once, newer);
      expect(result.changed).to.equal(false);
      expect(result.object).to.deep.equal(once);
      expect(result.status.generation).to.equal(3);
    });

    it('a sidecar whose keys are merely reordered is the same sidecar', () => {
      const once = injectedShop();
      const reordered = editedEnvoy((spec) => {
        const [proxy] = spec.sidecar.containers;
        spec.sidecar.containers = [Object.fromEntries(Object.entries(proxy).reverse())];
        spec.sidecar = Object.fromEntries(Object.entries(spec.sidecar).reverse());
      });
      const result = injectWorkload(once, reordered);
      expect(result.changed).to.equal(false);
      expect(result.status.generation).to.equal(3);
    });

    it('the same sidecar from a differently named MeshConfig is a change of owner', () => {
      const once = injectedShop();
      const other = mustParse({ ...rawEnvoyMeshConfig(), metadata: { name: 'envoy-mesh-v2', generation: 1 } });
      const result = injectWorkload(once, other);
      expect(result.changed).to.equal(true);
      expect(result.status.meshConfig).to.equal('envoy-mesh-v2');
      expect(result.status.generation).to.equal(1);
      // The rendered MESH_CONFIG env changed; the structure did not.
      expect(names(result.object.spec.template.spec.containers)).to.deep.equal(['checkout', 'log-shipper', 'mesh-proxy']);
      expect(names(result.object.spec.template.spec.initContainers)).to.deep.equal(['mesh-init', 'migrate']);
    });
  });

  it('an identical rendered sidecar from another MeshConfig records that MeshConfig\'s generation', () => {
    const sidecar = { containers: [{ name: 'mesh-proxy', image: 'envoy:1.8.0', args: ['--serviceCluster', '{{workload.name}}'] }] };
    const first = injectWorkload(shopDeployment(), meshConfig('mesh-a', { sidecar }, 5));
    const second = injectWorkload(first.object, meshConfig('mesh-b', { sidecar }, 1));
    expect(second.status.hash).to.equal(first.status.hash);
    expect(second.changed).to.equal(true);
    expect(second.status).to.deep.include({ meshConfig: 'mesh-b', generation: 1 });
    expect(second.object.spec.template.spec).to.deep.equal(first.object.spec.template.spec);
  });

  describe('upgrades replace exactly what was recorded', () => {
    it('a new proxy image replaces the proxy in place and records the new generation', () => {
      const once = injectedShop();
      const upgraded = injectWorkload(once, editedEnvoy((spec) => {
        spec.sidecar.containers[0].image = 'registry.example.com/mesh/envoy:1.9.1';
      }));
      expect(upgraded.changed).to.equal(true);
      const spec = upgraded.object.spec.template.spec;
      expect(names(spec.containers)).to.deep.equal(['checkout', 'log-shipper', 'mesh-proxy']);
      expect(spec.containers[2]!.image).to.equal('registry.example.com/mesh/envoy:1.9.1');
      expect(spec.containers[2]!.args).to.deep.equal(once.spec.template.spec.containers[2]!.args);
      expect(spec.containers.slice(0, 2)).to.deep.equal(once.spec.template.spec.containers.slice(0, 2));
      expect(spec.initContainers).to.deep.equal(once.spec.template.spec.initContainers);
      expect(spec.volumes).to.deep.equal(once.spec.template.spec.volumes);
      expect(upgraded.status.generation).to.equal(4);
      expect(upgraded.status.hash).to.not.equal(statusRecord(once.metadata.annotations).hash);
      expect(statusRecord(upgraded.object.metadata.annotations)).to.deep.equal(upgraded.status);
      expect(statusRecord(upgraded.object.spec.template.metadata!.annotations)).to.deep.equal(upgraded.status);
      expect(withoutInjectedParts(upgraded.object)).to.deep.equal(withoutInjectedParts(once));
    });

    it('a container removed from the MeshConfig is removed; the app\'s containers stay in place', () => {
      const withAgent = editedEnvoy((spec) => {
        spec.sidecar.containers.push({ name: 'mesh-agent', image: 'registry.example.com/mesh/agent:1.0' });
      });
      const twoSidecars = injectWorkload(shopDeployment(), withAgent).object;
      expect(names(twoSidecars.spec.template.spec.containers)).to.deep.equal(['checkout', 'log-shipper', 'mesh-proxy', 'mesh-agent']);
      const result = injectWorkload(twoSidecars, editedEnvoy(() => undefined, 5));
      expect(names(result.object.spec.template.spec.containers)).to.deep.equal(['checkout', 'log-shipper', 'mesh-proxy']);
      expect(result.status.containers).to.deep.equal(['mesh-proxy']);
      expect(result.object.spec.template.spec).to.deep.equal(injectedShop().spec.template.spec);
    });

    it('a renamed container replaces the old one, at the end; a renamed init container stays first', () => {
      const renamed = editedEnvoy((spec) => {
        spec.sidecar.containers[0].name = 'mesh-envoy';
        spec.sidecar.initContainers[0].name = 'mesh-iptables';
      });
      const result = injectWorkload(injectedShop(), renamed);
      const spec = result.object.spec.template.spec;
      expect(names(spec.containers)).to.deep.equal(['checkout', 'log-shipper', 'mesh-envoy']);
      expect(names(spec.initContainers)).to.deep.equal(['mesh-iptables', 'migrate']);
      expect(result.status.containers).to.deep.equal(['mesh-envoy']);
      expect(result.status.initContainers).to.deep.equal(['mesh-iptables']);
    });

    it('a new volume is appended and recorded; existing volumes keep their places', () => {
      const result = injectWorkload(injectedShop(), editedEnvoy((spec) => {
        spec.sidecar.volumes.push({ name: 'mesh-sds', emptyDir: {} });
      }));
      const spec = result.object.spec.template.spec;
      expect(names(spec.volumes)).to.deep.equal(['config', 'tmp', 'mesh-envoy', 'mesh-certs', 'mesh-sds']);
      expect(result.status.volumes).to.deep.equal(['mesh-envoy', 'mesh-certs', 'mesh-sds']);
    });

    it('a new init container is put right after the recorded ones, before the app\'s', () => {
      const result = injectWorkload(injectedShop(), editedEnvoy((spec) => {
        spec.sidecar.initContainers.push({ name: 'mesh-certs-init', image: 'registry.example.com/mesh/certs:1' });
      }));
      expect(names(result.object.spec.template.spec.initContainers)).to.deep.equal(['mesh-init', 'mesh-certs-init', 'migrate']);
      const front = injectWorkload(injectedShop(), editedEnvoy((spec) => {
        spec.sidecar.initContainers.unshift({ name: 'mesh-certs-init', image: 'registry.example.com/mesh/certs:1' });
      }));
      expect(names(front.object.spec.template.spec.initContainers)).to.deep.equal(['mesh-certs-init', 'mesh-init', 'migrate']);
    });

    it('items the user added after injection keep their positions through an upgrade', () => {
      const once = injectedShop();
      const spec = once.spec.template.spec;
      spec.initContainers = [{ name: 'wait-for-db', image: 'busybox:1.29' }, ...spec.initContainers!];
      spec.containers = [...spec.containers, { name: 'debug', image: 'busybox:1.29' }];
      spec.volumes = [{ name: 'scratch', emptyDir: {} }, ...spec.volumes!];

      const imageBump = injectWorkload(once, editedEnvoy((s) => {
        s.sidecar.containers[0].image = 'registry.example.com/mesh/envoy:1.9.1';
        s.sidecar.initContainers[0].image = 'registry.example.com/mesh/proxy-init:1.5.0';
      })).object.spec.template.spec;
      expect(names(imageBump.initContainers)).to.deep.equal(['wait-for-db', 'mesh-init', 'migrate']);
      expect(imageBump.initContainers![1]!.image).to.equal('registry.example.com/mesh/proxy-init:1.5.0');
      expect(names(imageBump.containers)).to.deep.equal(['checkout', 'log-shipper', 'mesh-proxy', 'debug']);
      expect(imageBump.containers[3]).to.deep.equal({ name: 'debug', image: 'busybox:1.29' });
      expect(names(imageBump.volumes)).to.deep.equal(['scratch', 'config', 'tmp', 'mesh-envoy', 'mesh-certs']);

      const rename = injectWorkload(once, editedEnvoy((s) => {
        s.sidecar.containers[0].name = 'mesh-envoy';
        s.sidecar.volumes.splice(1, 1);
        s.sidecar.containers[0].volumeMounts.splice(1, 1);
      })).object.spec.template.spec;
      // The sidecar is one block where the recorded items stood: the renamed proxy takes its place.
      expect(names(rename.containers)).to.deep.equal(['checkout', 'log-shipper', 'mesh-envoy', 'debug']);
      expect(names(rename.volumes)).to.deep.equal(['scratch', 'config', 'tmp', 'mesh-envoy']);
      expect(names(rename.initContainers)).to.deep.equal(['wait-for-db', 'mesh-init', 'migrate']);
    });

    it('a pod annotation or label dropped from the MeshConfig is removed only if it was ours', () => {
      const once = injectedShop();
      const dropped = editedEnvoy((spec) => {
        spec.sidecar.podAnnotations = { 'mesh.meshinit.dev/proxy-version': '1.9.1' };
        spec.sidecar.podLabels = {};
      });
      const result = injectWorkload(once, dropped);
      const meta = result.object.spec.template.metadata!;
      expect(omit(meta.annotations, STATUS_ANNOTATION)).to.deep.equal({
        'prometheus.io/scrape': 'false',
        'prometheus.io/port': '8080',
        'mesh.meshinit.dev/proxy-version': '1.9.1',
      });
      expect(meta.labels).to.deep.equal({ app: 'checkout', tier: 'backend' });
      expect(result.status.podAnnotations).to.deep.equal(['mesh.meshinit.dev/proxy-version']);
      expect(result.status.podLabels).to.deep.equal([]);
    });

    it('an injected annotation the user later edits by hand is restored: it is recorded as ours', () => {
      const once = injectedShop();
      once.spec.template.metadata!.annotations!['mesh.meshinit.dev/proxy-version'] = 'hand-edited';
      const result = injectWorkload(once, envoyMeshConfig());
      expect(result.object.spec.template.metadata!.annotations!['mesh.meshinit.dev/proxy-version']).to.equal('1.8.0');
      expect(result.changed).to.equal(true);
    });

    it('a pull secret dropped from the MeshConfig is removed if ours and kept if the user\'s', () => {
      const noSecret = editedEnvoy((spec) => {
        spec.sidecar.imagePullSecrets = [];
      });
      const ours = injectWorkload(injectedShop(), noSecret).object;
      expect(ours.spec.template.spec.imagePullSecrets).to.deep.equal([{ name: 'shop-registry' }]);

      const userListed = shopDeployment();
      userListed.spec.template.spec.imagePullSecrets = [{ name: 'mesh-registry' }];
      const theirs = injectWorkload(injectWorkload(userListed, envoyMeshConfig()).object, noSecret).object;
      expect(theirs.spec.template.spec.imagePullSecrets).to.deep.equal([{ name: 'mesh-registry' }]);
    });

    it('an upgrade that reorders the sidecar\'s init containers and containers applies the new order', () => {
      const mk = (init: string[], main: string[], generation: number) =>
        meshConfig('m', { sidecar: { initContainers: init.map((n) => ({ name: n, image: `${n}:1` })), containers: main.map((n) => ({ name: n, image: `${n}:1` })) } }, generation);
      const v1 = injectWorkload(shopDeployment(), mk(['mesh-init', 'mesh-certs'], ['mesh-proxy', 'mesh-agent'], 1)).object;
      const v2 = injectWorkload(v1, mk(['mesh-certs', 'mesh-init', 'mesh-x'], ['mesh-agent', 'mesh-new', 'mesh-proxy'], 2)).object;
      const fresh = injectWorkload(shopDeployment(), mk(['mesh-certs', 'mesh-init', 'mesh-x'], ['mesh-agent', 'mesh-new', 'mesh-proxy'], 2)).object;
      expect(names(v2.spec.template.spec.initContainers)).to.deep.equal(['mesh-certs', 'mesh-init', 'mesh-x', 'migrate']);
      expect(names(v2.spec.template.spec.containers)).to.deep.equal(['checkout', 'log-shipper', 'mesh-agent', 'mesh-new', 'mesh-proxy']);
      expect(v2.spec.template.spec).to.deep.equal(fresh.spec.template.spec);
    });

    it('a sidecar item the user deleted by hand is put back', () => {
      const once = injectedShop();
      once.spec.template.spec.volumes = once.spec.template.spec.volumes!.filter((v) => v.name !== 'mesh-envoy');
      const result = injectWorkload(once, envoyMeshConfig());
      expect(result.changed).to.equal(true);
      expect(names(result.object.spec.template.spec.volumes)).to.deep.equal(['config', 'tmp', 'mesh-envoy', 'mesh-certs']);
    });

    it('an upgrade that drops every init container and volume leaves only the app\'s', () => {
      const slim = meshConfig('envoy-mesh', { sidecar: { containers: [{ name: 'mesh-proxy', image: 'envoy:2' }] } }, 9);
      const result = injectWorkload(injectedShop(), slim);
      const spec = result.object.spec.template.spec;
      expect(names(spec.initContainers)).to.deep.equal(['migrate']);
      expect(names(spec.containers)).to.deep.equal(['checkout', 'log-shipper', 'mesh-proxy']);
      expect(names(spec.volumes)).to.deep.equal(['config', 'tmp']);
      expect(spec.imagePullSecrets).to.deep.equal([{ name: 'shop-registry' }]);
      expect(result.status).to.deep.include({ initContainers: [], containers: ['mesh-proxy'], volumes: [], imagePullSecrets: [], podAnnotations: [], podLabels: [] });

      const demo = injectWorkload(injectWorkload(demoDeployment(), envoyMeshConfig()).object, slim).object;
      expect(names(demo.spec.template.spec.initContainers)).to.deep.equal([]);
      expect(names(demo.spec.template.spec.volumes)).to.deep.equal([]);
    });
  });
});
