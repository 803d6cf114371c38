// With --self-signed, the CA that signed this process's serving certificate must be in the
// caBundle of its MutatingWebhookConfiguration, or the API server refuses the TLS connection.
import { isKubeApiError } from './errors.ts';
import type { KubeApi } from './types.ts';

const PATH = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';

interface WebhookConfiguration {
  metadata?: { resourceVersion?: string };
  webhooks?: Array<{ name?: string; clientConfig?: { caBundle?: string } }>;
}

/** Sets caBundle on every webhook of the configuration, guarded by its resourceVersion. */
export async function publishCaBundle(api: KubeApi, configurationName: string, caPem: string): Promise<number> {
  const caBundle = Buffer.from(caPem).toString('base64');
  for (let attempt = 1; ; attempt++) {
    const path = `${PATH}/${encodeURIComponent(configurationName)}`;
    let configuration: WebhookConfiguration;
    try {
      configuration = await api.get<WebhookConfiguration>(path);
    } catch (error) {
      if (isKubeApiError(error) && error.isNotFound) {
        throw new Error(`MutatingWebhookConfiguration ${configurationName} does not exist: apply manifests/webhook first, or pass --webhook-config-name`);
      }
      throw error;
    }
    const webhooks = configuration.webhooks ?? [];
    const ops: unknown[] = [{ op: 'replace', path: '/metadata/resourceVersion', value: configuration.metadata?.resourceVersion }];
    webhooks.forEach((webhook, index) => {
      ops.push({ op: 'test', path: `/webhooks/${index}/name`, value: webhook.name });
      ops.push({ op: 'add', path: `/webhooks/${index}/clientConfig/caBundle`, value: caBundle });
    });
    try {
      await api.patch(path, ops, 'application/json-patch+json');
      return webhooks.length;
    } catch (error) {
      if (isKubeApiError(error) && error.isConflict && attempt < 5) continue;
      throw error;
    }
  }
}
