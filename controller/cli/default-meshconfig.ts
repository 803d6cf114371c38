// Where `meshinit inject` finds its built-in MeshConfig when none is given: the sample that ships
// in the package. A URL relative to this module would break between the sources
// (controller/cli/) and the build (dist/controller/cli/, one level deeper), so the package root is
// found by walking up to meshinit's own package.json instead.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The sample MeshConfig, relative to the package root (the image copies it to the same place). */
export const DEFAULT_MESHCONFIG_RELATIVE_PATH = 'manifests/meshconfig-sample.yaml';

const PACKAGE_NAME = 'meshinit';

function isMeshinitPackage(directory: string): boolean {
  const manifest = path.join(directory, 'package.json');
  if (!existsSync(manifest)) return false;
  try {
    const parsed: unknown = JSON.parse(readFileSync(manifest, 'utf8'));
    // Another package.json on the way up (a nested build output, a monorepo root) is not ours.
    return typeof parsed === 'object' && parsed !== null && (parsed as { name?: unknown }).name === PACKAGE_NAME;
  } catch {
    return false;
  }
}

/** The directory holding meshinit's package.json, above `from` (a module URL or path). */
export function findPackageRoot(from: string | URL = import.meta.url): string | undefined {
  let directory = path.dirname(from instanceof URL || from.startsWith('file:') ? fileURLToPath(from) : path.resolve(from));
  for (;;) {
    if (isMeshinitPackage(directory)) return directory;
    const parent = path.dirname(directory);
    if (parent === directory) return undefined;
    directory = parent;
  }
}

/** Absolute path of the default MeshConfig, or undefined when meshinit's package root is not found. */
export function defaultMeshConfigPath(from: string | URL = import.meta.url): string | undefined {
  const root = findPackageRoot(from);
  return root === undefined ? undefined : path.join(root, DEFAULT_MESHCONFIG_RELATIVE_PATH);
}
