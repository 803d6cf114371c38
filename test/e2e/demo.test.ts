// `make demo` as a newcomer runs it: the summary shows real injection and the skip reasons, the
// log tail runs until Ctrl-C, and Ctrl-C tears the control plane down.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import { portClosed } from '../control-plane/control-plane.ts';
import { repoRoot } from '../support/transcripts.ts';
import { waitUntil } from './cluster.ts';

describe('make demo', function () {
  this.timeout(180_000);

  it('shows injection on a real kube-apiserver, tails the log, and tears down on Ctrl-C', async function () {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'demo/demo.ts')], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitUntil(async () => (output.includes('Ctrl-C to stop') ? true : undefined), `the log tail\n${output}`, 120_000);
    expect(output).to.match(/kube-apiserver v1\.\d+\.\d+ ready at https:\/\/127\.0\.0\.1:\d+/);
    expect(output).to.include('Deployment/web: INJECTED by MeshConfig default');
    expect(output).to.include('web  ->  web, mesh-proxy');
    expect(output).to.include('Deployment/report: SKIPPED: Deployment has annotation sidecar.meshinit.dev/inject: "false"');
    expect(output).to.include('DaemonSet/node-agent: SKIPPED');
    expect(output).to.include('Service/web: not a workload');
    const port = Number(/ready at https:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1]);
    child.kill('SIGINT');
    expect(await exited).to.equal(0);
    expect(output).to.include('Stopping meshinit and the control plane');
    expect(await portClosed(port), 'kube-apiserver stopped').to.equal(true);
  });
});
