// Rendering a MeshConfig's sidecar for a workload and hashing it (canonical JSON) is half the cost
// of an injection, and depends only on the MeshConfig and the workload's identity (kind, name,
// namespace). Each Pod of a StatefulSet or a DaemonSet differs from its siblings, each new
// ReplicaSet of a Deployment too, yet they all get the same sidecar: a long-running adapter
// passes a SidecarMemo so that it is rendered once per MeshConfig version and workload.
import { placeholderValues, renderedSidecarHash, renderSidecar, type WorkloadIdentity } from './render.ts';
import type { MeshConfig, SidecarSpec } from './types.ts';
import { deepFreeze } from './untrusted.ts';

export interface RenderedSidecar {
  sidecar: SidecarSpec;
  /** Hash of the rendered sidecar's canonical JSON: what the status record compares. */
  hash: string;
}

/** The sidecar `meshConfig` gives the workload `identity`, placeholders filled in, and its hash. */
export function renderSidecarFor(meshConfig: MeshConfig, identity: WorkloadIdentity): RenderedSidecar {
  const values = placeholderValues(identity, meshConfig.name);
  // The sidecar in the layout resolved for the server (core/native-sidecar.ts), not as written.
  const { sidecar } = meshConfig.layout;
  return { sidecar: renderSidecar(sidecar, values), hash: renderedSidecarHash(sidecar, values) };
}

/**
 * Rendered sidecars by MeshConfig and workload, at most `maxPerMeshConfig` workloads each (the
 * least recently used go first). Keyed by the MeshConfig object: MeshConfigs are values, replaced
 * by a new object for every version and never modified, so an edit is a new key and the old
 * renders go with the old object. What it hands out is frozen: injections share it.
 */
export class SidecarMemo {
  private readonly byMeshConfig = new WeakMap<MeshConfig, Map<string, RenderedSidecar>>();
  private readonly maxPerMeshConfig: number;

  constructor(maxPerMeshConfig = 512) {
    this.maxPerMeshConfig = maxPerMeshConfig;
  }

  get(meshConfig: MeshConfig, identity: WorkloadIdentity): RenderedSidecar {
    let renders = this.byMeshConfig.get(meshConfig);
    if (!renders) {
      renders = new Map();
      this.byMeshConfig.set(meshConfig, renders);
    }
    const key = JSON.stringify([identity.kind, identity.namespace, identity.name]);
    const found = renders.get(key);
    if (found) {
      renders.delete(key);
      renders.set(key, found);
      return found;
    }
    const rendered = deepFreeze(renderSidecarFor(meshConfig, identity));
    renders.set(key, rendered);
    if (renders.size > this.maxPerMeshConfig) renders.delete(renders.keys().next().value!);
    return rendered;
  }
}
