// The chart's copies of the MeshConfig CRDs and of the monitoring files it renders are the files in
// crds/ and manifests/monitoring/, byte for byte (`make chart-files` copies them), and the chart's
// versions and image are those of the package and manifests/.
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { parse } from 'yaml';
import { repoRoot } from '../support/transcripts.ts';

const CHART = path.join(repoRoot, 'charts', 'meshinit');
const read = (...parts: string[]): string => fs.readFileSync(path.join(...parts), 'utf8');

/** Each file of charts/meshinit/files/ and the repository file it copies. */
const COPIES: Record<string, string> = {
  'meshconfig.v1.yaml': 'crds/meshconfig.v1.yaml',
  'meshconfig.v1beta1.yaml': 'crds/meshconfig.v1beta1.yaml',
  'prometheusrule.yaml': 'manifests/monitoring/prometheusrule.yaml',
  'grafana-dashboard.json': 'manifests/monitoring/grafana-dashboard.json',
};

describe('charts/meshinit files', () => {
  it('files/ holds exactly the CRDs of crds/, the alert rules and the dashboard of manifests/monitoring, byte for byte', () => {
    const crds = fs.readdirSync(path.join(repoRoot, 'crds')).filter((f) => f.endsWith('.yaml')).sort();
    expect(crds.map((f) => `crds/${f}`), 'every CRD is copied').to.deep.equal(Object.values(COPIES).filter((f) => f.startsWith('crds/')));
    expect(fs.readdirSync(path.join(CHART, 'files')).sort()).to.deep.equal(Object.keys(COPIES).sort());
    for (const [file, source] of Object.entries(COPIES)) {
      expect(read(CHART, 'files', file) === read(repoRoot, source), `charts/meshinit/files/${file} differs from ${source}: run \`make chart-files\``).to.equal(true);
    }
  });

  it('the monitoring copies are the files manifests/monitoring applies', () => {
    const kustomization = parse(read(repoRoot, 'manifests', 'monitoring', 'kustomization.yaml')) as { resources: string[]; configMapGenerator: Array<{ files: string[] }> };
    expect(kustomization.resources).to.include('prometheusrule.yaml');
    expect(kustomization.configMapGenerator.flatMap((g) => g.files)).to.deep.equal(['grafana-dashboard.json']);
  });

  it('appVersion is the package version, and the default image is the one manifests/ run', () => {
    const chart = parse(read(CHART, 'Chart.yaml')) as { appVersion: string; version: string; name: string };
    const pkg = JSON.parse(read(repoRoot, 'package.json')) as { version: string };
    expect(chart.name).to.equal('meshinit');
    expect(chart.appVersion).to.equal(pkg.version);
    const values = parse(read(CHART, 'values.yaml')) as { image: { repository: string; tag: string } };
    for (const mode of ['initializer', 'webhook']) {
      expect(read(repoRoot, 'manifests', mode, 'deployment.yaml')).to.include(`image: ${values.image.repository}:${chart.appVersion}\n`);
    }
    expect(values.image.tag, 'empty: the appVersion').to.equal('');
  });

  it('every top-level key of values.yaml is described by values.schema.json, which refuses unknown ones', () => {
    const values = parse(read(CHART, 'values.yaml')) as Record<string, unknown>;
    const schema = JSON.parse(read(CHART, 'values.schema.json')) as { additionalProperties: boolean; required: string[]; properties: Record<string, unknown> };
    expect(schema.additionalProperties).to.equal(false);
    expect(Object.keys(schema.properties).sort()).to.deep.equal(Object.keys(values).sort());
    expect([...schema.required].sort()).to.deep.equal(Object.keys(values).sort());
  });
});
