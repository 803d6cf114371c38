// The demos as a newcomer runs them: `make demo` (the Initializer mode on kube-apiserver v1.13.0)
// and `make demo-webhook` (the webhook on the modern server). Each summary shows real injection
// and the skip reasons, the log tail runs until Ctrl-C, and Ctrl-C tears the control plane down.
// The webhook demo also rolls a new proxy out with real Deployment and StatefulSet controllers.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import { portClosed } from '../control-plane/control-plane.ts';
import { repoRoot } from '../support/transcripts.ts';
import { waitUntil } from './cluster.ts';

async function runUntilTail(script: string): Promise<{ output: () => string; interrupt: () => Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, script)], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await waitUntil(async () => (output.includes('Ctrl-C to stop') ? true : child.exitCode !== null ? (() => { throw new Error(`the demo exited ${child.exitCode}:\n${output}`); })() : undefined), `the log tail\n${output}`, 240_000);
  return {
    output: () => output,
    interrupt: async () => {
      child.kill('SIGINT');
      return exited;
    },
  };
}

describe('make demo and make demo-webhook', function () {
  this.timeout(300_000);

  it('make demo: installs with kubectl on kube-apiserver v1.13.0, answers plain creates with the sidecar, uses an edited MeshConfig, tears down on Ctrl-C', async function () {
    const demo = await runUntilTail('demo/demo.ts');
    const output = demo.output();
    expect(output).to.match(/kube-apiserver v1\.13\.0 ready at https:\/\/127\.0\.0\.1:\d+/);
    expect(output).to.include('$ kubectl apply -k manifests/initializer');
    expect(output).to.include('mode initializer');
    expect(output).to.match(/Deployment\/web: INJECTED by MeshConfig default \(create answered 201 in \d+ ms/);
    expect(output).to.include('web  ->  web, mesh-proxy   (proxy image ghcr.io/meshinit/proxy:1.0.0)');
    expect(output).to.include('web  ->  web, mesh-proxy   (proxy image ghcr.io/meshinit/proxy:1.0.1)');
    expect(output).to.match(/Job\/db-migrate: RELEASED \(create answered 201/);
    expect(output).to.include('Deployment/report: SKIPPED');
    expect(output, 'the log tail shows the decisions').to.match(/INFO {2}Injected sidecar .*kind=Deployment .*name=web namespace=demo /);
    const port = Number(/ready at https:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1]);
    expect(await demo.interrupt()).to.equal(0);
    expect(demo.output()).to.include('Stopping meshinit and the control plane');
    expect(await portClosed(port), 'kube-apiserver stopped').to.equal(true);
  });

  it('make demo-webhook: shows injection on the modern kube-apiserver, tails the log, and tears down on Ctrl-C', async function () {
    const demo = await runUntilTail('demo/webhook-demo.ts');
    const output = demo.output();
    expect(output).to.match(/kube-apiserver v1\.\d+\.\d+ ready at https:\/\/127\.0\.0\.1:\d+/);
    expect(output).to.include('Deployment/web: INJECTED by MeshConfig default');
    expect(output).to.include('web  ->  web, mesh-proxy');
    expect(output).to.include('Deployment/report: SKIPPED: Deployment has annotation sidecar.meshinit.dev/inject: "false"');
    expect(output).to.include('DaemonSet/node-agent: SKIPPED');
    expect(output).to.include('Service/web: not a workload');
    // The rollout: maxPerMinute 1, so the two workloads start a minute apart, in namespace/name order.
    expect(output).to.match(/SidecarRolloutStarted +StatefulSet\/cache: Re-injected with MeshConfig default: sidecar generation 1 .* -> 2 /);
    expect(output).to.match(/SidecarRolloutStarted +Deployment\/web: Re-injected with MeshConfig default/);
    expect(output).to.match(/SidecarRolloutFinished +Deployment\/web: Every replica runs the sidecar of MeshConfig default generation 2/);
    expect(output).to.match(/MeshConfig default: injected 2, outdated 1, .*Deployment\/web: generation 2, proxy ghcr\.io\/meshinit\/proxy:1\.0\.1, deployment "web" successfully rolled out/);
    const seconds = [...output.matchAll(/\+ *(\d+)s {2}MeshConfig default: .*Deployment\/web: generation (\d)/g)].map((m) => ({ at: Number(m[1]), generation: Number(m[2]) }));
    const webRolledAt = seconds.find((row) => row.generation === 2)?.at ?? 0;
    expect(webRolledAt, 'the second start waits for the minute').to.be.at.least(55);
    const port = Number(/ready at https:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1]);
    expect(await demo.interrupt()).to.equal(0);
    expect(demo.output()).to.include('Stopping meshinit and the control plane');
    expect(await portClosed(port), 'kube-apiserver stopped').to.equal(true);
  });
});
