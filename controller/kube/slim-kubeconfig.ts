// @kubernetes/client-node's KubeConfig without the generated API it drags in. Its module
// (dist/config.js) imports `./gen/index.js` -- thousands of generated model and API classes, about
// 70 MB of a 120 MB process and a third of a second at start -- only for makeApiClient() and
// createConfiguration(), and node-fetch (15 MB) only for applyToFetchOptions(). meshinit calls none
// of them: it reads kubeconfigs and asks applyToHTTPSOptions() for TLS material and auth headers.
//
// So KubeConfig's own module text is evaluated here with exactly those two imports replaced by
// stubs that throw if ever called; every other import (the exec, OIDC, GCP, Azure and file
// authenticators, YAML, proxy agents) is the package's own module, loaded as usual. client-node
// stays the authority on kubeconfig semantics; nothing of it is copied into meshinit.
//
// Anything unexpected in that text (a new client-node release that imports more from them, or
// differently) makes this fall back to the package's normal entry, so a surprise costs memory,
// never behaviour.
import fs from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';

export type KubeConfigClass = typeof KubeConfig;

const CONFIG_MODULE = '@kubernetes/client-node/dist/config.js';

/** An ES module held in memory. */
function moduleUrl(source: string): string {
  return `data:text/javascript;base64,${Buffer.from(source).toString('base64')}`;
}

function unavailable(what: string): string {
  return `throw new Error('meshinit loads @kubernetes/client-node without ${what}; this call needs the full package');`;
}

/** The imports replaced, with the exact names KubeConfig's module takes from each. */
const STUBS: Record<string, { names: string; url: string }> = {
  './gen/index.js': {
    names: 'createConfiguration,ServerConfiguration',
    url: moduleUrl(`export function createConfiguration() { ${unavailable('its generated API')} }\n` +
      `export class ServerConfiguration { constructor() { ${unavailable('its generated API')} } }\n`),
  },
  'node-fetch': {
    names: 'Headers',
    url: moduleUrl(`export class Headers { constructor() { ${unavailable('node-fetch')} } }\n`),
  },
};

// tsc's output: one static import per line, `import <clause> from '<specifier>';` or `import '<specifier>';`.
const STATIC_IMPORT = /^import\s+(?:([^'";]*?)\s+from\s+)?'([^']+)';$/gm;

/**
 * The text of KubeConfig's module with every import made absolute (a data: module resolves
 * nothing relative) and the stubs put in; undefined when the text is not as expected.
 */
export function slimConfigSource(source: string, configUrl: string, resolvePackage: (specifier: string) => string): string | undefined {
  const stubbed = new Set<string>();
  const rewritten = source.replace(STATIC_IMPORT, (line, clause: string | undefined, specifier: string) => {
    const stub = STUBS[specifier];
    if (stub) {
      const names = (clause ?? '').replace(/[{}\s]/g, '').split(',').filter(Boolean).sort().join(',');
      if (names !== stub.names.split(',').sort().join(',')) return line; // left relative: fails the check below
      stubbed.add(specifier);
      return `import ${clause} from '${stub.url}';`;
    }
    if (specifier.startsWith('node:')) return line;
    const absolute = specifier.startsWith('.') ? new URL(specifier, configUrl).href : resolvePackage(specifier);
    return `import ${clause ? `${clause} from ` : ''}'${absolute}';`;
  });
  if (stubbed.size !== Object.keys(STUBS).length) return undefined;
  // With source maps on (--enable-source-maps, tsx), a relative map URL cannot be resolved against
  // a data: URL and the import would fail: point it at the package's file.
  const mapped = rewritten.replace(/^\/\/# sourceMappingURL=(\S+)$/gm, (_line, map: string) => `//# sourceMappingURL=${new URL(map, configUrl).href}`);
  // No import may be left that a data: module cannot resolve, nor a dynamic one.
  const left = [...mapped.matchAll(/(?:^import\s[^;]*?|\bfrom\s+)'([^']+)'|\bimport\(/gm)]
    .filter((match) => match[1] === undefined || !/^(node:|file:|data:)/.test(match[1]));
  return left.length === 0 ? mapped : undefined;
}

/** Whether `specifier` would resolve to the same package from client-node as from meshinit (no nested copy). */
function notNested(configUrl: string, specifier: string): boolean {
  const name = specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
  return !fs.existsSync(new URL(`../node_modules/${name}`, configUrl)) && !fs.existsSync(new URL(`node_modules/${name}`, configUrl));
}

let loaded: Promise<{ KubeConfig: KubeConfigClass; slim: boolean }> | undefined;

/**
 * client-node's KubeConfig class, loaded without its generated API when possible (`slim`); the
 * package's own when not. Loaded once per process.
 */
export function loadKubeConfigClass(): Promise<{ KubeConfig: KubeConfigClass; slim: boolean }> {
  loaded ??= (async () => {
    try {
      const configUrl = import.meta.resolve(CONFIG_MODULE);
      const source = slimConfigSource(fs.readFileSync(new URL(configUrl), 'utf8'), configUrl, (specifier) => {
        if (!notNested(configUrl, specifier)) throw new Error(`client-node has its own copy of ${specifier}`);
        return import.meta.resolve(specifier);
      });
      if (source !== undefined) {
        const module = (await import(moduleUrl(source))) as { KubeConfig?: KubeConfigClass };
        if (typeof module.KubeConfig === 'function') return { KubeConfig: module.KubeConfig, slim: true };
      }
    } catch {
      // Any surprise: the full package below.
    }
    const full = await import('@kubernetes/client-node');
    return { KubeConfig: full.KubeConfig, slim: false };
  })();
  return loaded;
}
