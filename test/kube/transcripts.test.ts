import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { fixturesRoot, loadTranscript, loadWatchEvents, readFixture } from '../support/transcripts.ts';

describe('test support: recorded transcripts', () => {
  it('finds the fixtures beside the repository', () => {
    expect(fs.existsSync(path.join(fixturesRoot, 'README.md'))).to.equal(true);
  });

  it('parses status, headers and a JSON body, dropping the trailing "elapsed" note (04)', () => {
    const t = loadTranscript('v1.13.0/04-post-blocking.txt');
    expect(t.statusCode).to.equal(504);
    expect(t.rawBody.endsWith('}')).to.equal(true);
    expect(t.body).to.include({ kind: 'Status', reason: 'Timeout', code: 504 });
    expect(t.headers['content-type']).to.equal('application/json');
  });

  it('keeps the recorded Content-Length consistent with the body it returns', () => {
    for (const file of ['v1.13.0/05b-get-with-flag.txt', 'v1.13.0/09-json-patch-c.txt', 'v1.9/12b-post-g-blocked-then-failed.txt']) {
      const recorded = /Content-Length: (\d+)/.exec(readFixture(file))?.[1];
      expect(loadTranscript(file).headers['content-length'], file).to.equal(recorded);
    }
  });

  it('drops Transfer-Encoding: chunked (05d)', () => {
    const t = loadTranscript('v1.13.0/05d-list-with-flag.txt');
    expect(t.headers).not.to.have.property('transfer-encoding');
    expect(t.headers['content-length']).to.equal(String(Buffer.byteLength(t.rawBody)));
    expect((t.body as { items: unknown[] }).items).to.have.length(2);
  });

  it('reads a plain-text answer between comment lines (21) and HTTP/2 lower-case headers (16)', () => {
    const t = loadTranscript('v1.13.0/21-burst-429.txt');
    expect(t.statusCode).to.equal(429);
    expect(t.headers['retry-after']).to.equal('1');
    expect(t.body).to.equal('Too many requests, please try again later.\n');
    const h2 = loadTranscript('v1.13.0/16-rbac-initialize-verb.txt');
    expect(h2.statusCode).to.equal(403);
    expect(h2.body).to.include({ reason: 'Forbidden' });
  });

  it('refuses a recording whose body was elided (17)', () => {
    expect(() => loadTranscript('v1.13.0/17-job-template-immutable.txt')).to.throw(/cut off/);
  });

  it('loads NDJSON watch events (13a, 13b)', () => {
    expect(loadWatchEvents('v1.13.0/13a-watch-with-flag.jsonl').map((e) => e.type)).to.deep.equal(['ADDED', 'MODIFIED']);
    expect(loadWatchEvents('v1.9/13b-watch-without-flag.jsonl').map((e) => e.type)).to.deep.equal(['ADDED']);
  });
});
