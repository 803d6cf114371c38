// One WATCH: the request, then the newline-delimited JSON events of its stream until the server
// ends it, an ERROR event (410 Gone after compaction) or a failure ends it, or the caller stops it.
import type http from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import type { Status } from '../core/types.ts';
import { errorFromResponse, errorFromStatus, isStatus, type Transport } from './transport.ts';
import type { QueryParams, WatchEnd, WatchEvent, WatchHandle } from './types.ts';

export function openWatch<T>(transport: Transport, path: string, query: QueryParams, onEvent: (event: WatchEvent<T>) => void): WatchHandle {
  let stopped = false;
  // Aborting covers both phases: waiting for the answer and reading the stream.
  const controller = new AbortController();
  let finish: (end: WatchEnd) => void = () => undefined;
  let fail: (err: unknown) => void = () => undefined;
  const done = new Promise<WatchEnd>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  let response: http.IncomingMessage | undefined;
  // Once the whole response is in, Node has handed the keep-alive socket back to the agent:
  // aborting then would destroy a pooled socket nobody listens to, and the process would die on
  // its 'error'. That is exactly the case of a watch answered with a single ERROR event (410).
  const release = (): void => {
    if (!response?.complete) controller.abort();
  };
  const abort = (err: unknown): void => {
    stopped = true;
    release();
    fail(err);
  };

  let streamSecrets: string[] = [];
  const deliver = (line: string): void => {
    if (stopped || line.trim() === '') return;
    let event: WatchEvent<T>;
    try {
      event = JSON.parse(line) as WatchEvent<T>;
    } catch {
      abort(new Error(`GET ${path}: watch sent a line that is not JSON`));
      return;
    }
    // An ERROR event ends the stream: 410 Expired means the resourceVersion is compacted away
    // and only a fresh list can continue; it surfaces through `done`, not onEvent.
    if (event.type === 'ERROR') {
      const status: Status = isStatus(event.object) ? event.object : { message: 'watch ERROR event without a Status' };
      abort(errorFromStatus('GET', path, status, 500, streamSecrets));
      return;
    }
    try {
      onEvent(event);
    } catch (err) {
      abort(err);
    }
  };

  transport.send('GET', path, { ...query, watch: true }, undefined, undefined, controller.signal).then(({ res, secrets, clearTimer, failure }) => {
    streamSecrets = secrets;
    response = res;
    // The request timeout guards the handshake only; the stream itself lasts timeoutSeconds.
    clearTimer();
    const status = res.statusCode ?? 0;
    const decoder = new StringDecoder('utf8');
    let buffer = '';
    res.on('data', (chunk: Buffer) => {
      buffer += decoder.write(chunk);
      if (status < 200 || status >= 300) return;
      let newline = buffer.indexOf('\n');
      while (newline >= 0 && !stopped) {
        deliver(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf('\n');
      }
    });
    res.once('end', () => {
      buffer += decoder.end();
      if (status < 200 || status >= 300) {
        abort(errorFromResponse('GET', path, res, buffer, secrets));
        return;
      }
      deliver(buffer);
      if (!stopped) {
        stopped = true;
        finish({ closedByServer: true });
      }
    });
    res.once('error', (err) => {
      if (!stopped) abort(failure(err));
    });
  }, (err: unknown) => {
    if (!stopped) abort(err);
  });

  return {
    done,
    stop() {
      if (stopped) return;
      stopped = true;
      release();
      finish({ closedByServer: false });
    },
  };
}

