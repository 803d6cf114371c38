// A bounded cache of admission answers, keyed by the AdmissionReview's text without its uid. The
// API server sends the same object again and again: a ReplicaSet's Pods are identical at
// admission (the name suffix and the object's uid are set after the webhooks), and the server
// serialises deterministically (struct fields in order, map keys sorted). Deciding, rendering,
// injecting, diffing and even parsing the review would repeat the same work for each Pod.
//
// Exact by construction. An answer is a function of the review, in which the request uid only
// ever becomes the answer's uid, and of what the decision read from the context: the
// namespace's labels, the MeshConfigs in force, whether they are readable, the Pod's workload.
//  - The key is the text with the request uid's string token cut out. Two reviews with the same
//    key are the same text but for that token, so they parse to the same review but for the uid
//    (before keeping an answer, a probe with another uid in the token proves that it is the uid
//    JSON.parse reads: not a duplicate key that a later one overrides).
//  - Every context read made while the answer was computed is recorded, and made again on each
//    hit: any difference (a MeshConfig edited, a namespace relabelled, the Deployment annotated
//    inject: "false") is a miss, and the answer is computed afresh.
// Bodies laid out otherwise (other clients, whitespace) are answered without the cache.
import type { MeshConfig, WorkloadKind } from '../core/types.ts';
import { admit, type AdmissionContext, type AdmissionOutcome, type AdmissionResponseBody } from './admission.ts';
import { deepFreeze } from '../core/untrusted.ts';

export interface ReviewCacheOptions {
  /** Most answers kept (least recently used go first). */
  maxEntries?: number;
  /** Most characters kept, keys and patches together, so a few huge objects cannot hold memory. */
  maxChars?: number;
}

export interface ReviewCacheStats {
  hits: number;
  misses: number;
  entries: number;
  chars: number;
}

/** One context read an answer depended on: how to make it again, and what it gave. */
interface Read {
  again(context: AdmissionContext): string;
  stamp: string;
}

/** An answer and its AdmissionReview as JSON text, ready to send. */
export interface Answer {
  outcome: AdmissionOutcome;
  json: string;
}

interface Entry {
  /** The review's text before the uid token (the key is the text after it). */
  before: string;
  outcome: AdmissionOutcome;
  /** The answer's JSON is `head`, the uid as a JSON string, `tail`: serialised once, not per request. */
  head: string;
  tail: string;
  reads: Read[];
  chars: number;
}

const ABSENT = '\u0000absent';
/** How the API server (and JSON.stringify of a literal) begins a review: kind and apiVersion, then request.uid. */
const REVIEW_START = /^\{(?:"kind":"AdmissionReview","apiVersion":"admission\.k8s\.io\/v1(?:beta1)?"|"apiVersion":"admission\.k8s\.io\/v1(?:beta1)?","kind":"AdmissionReview"),"request":\{"uid":(?=")/;
const QUOTE = 34;
const BACKSLASH = 92;

/** The request uid and the text around its token, or undefined when the text does not start as a review. */
export function splitReviewUid(text: string): { uid: string; before: string; after: string } | undefined {
  const start = REVIEW_START.exec(text)?.[0].length;
  if (start === undefined) return undefined;
  let end = start + 1;
  while (end < text.length && text.charCodeAt(end) !== QUOTE) end += text.charCodeAt(end) === BACKSLASH ? 2 : 1;
  if (end >= text.length) return undefined;
  let uid: unknown;
  try {
    uid = JSON.parse(text.slice(start, end + 1));
  } catch {
    return undefined;
  }
  return typeof uid === 'string' && uid !== '' ? { uid, before: text.slice(0, start), after: text.slice(end + 1) } : undefined;
}

function withUid(outcome: AdmissionOutcome, uid: string): AdmissionOutcome {
  return {
    review: { ...outcome.review, response: { ...outcome.review.response, uid } },
    decision: { ...outcome.decision, uid },
  };
}

/** The review's JSON around its response uid, which admit() puts first in the response. */
function serialisedAround(outcome: AdmissionOutcome): { head: string; tail: string } {
  const { apiVersion, kind, response } = outcome.review;
  const rest: Partial<AdmissionResponseBody> = { ...response };
  delete rest.uid;
  return {
    head: `{"apiVersion":${JSON.stringify(apiVersion)},"kind":${JSON.stringify(kind)},"response":{"uid":`,
    tail: `,${JSON.stringify(rest).slice(1)}}`,
  };
}

/** One per webhook handler: its answers are those of one context (target, namespaces, caches). */
export class ReviewCache {
  private readonly context: AdmissionContext;
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly maxChars: number;
  /**
   * MeshConfigs by identity: the store replaces a MeshConfig's object on every change it sees and
   * never modifies one, so the same object means the same generation, spec and all.
   */
  private readonly ids = new WeakMap<MeshConfig, number>();
  private nextId = 1;
  private chars = 0;
  private hits = 0;
  private misses = 0;

  constructor(context: AdmissionContext, options: ReviewCacheOptions = {}) {
    this.context = context;
    this.maxEntries = options.maxEntries ?? 512;
    this.maxChars = options.maxChars ?? 4 * 1024 * 1024;
  }

  /** The answer to the review `text`, when an equal one (but for its uid) was answered in an unchanged context. */
  lookup(text: string): Answer | undefined {
    const split = splitReviewUid(text);
    if (!split) return undefined;
    // Keyed by the text after the uid (a slice of the body, not a copy); the part before is compared.
    const entry = this.entries.get(split.after);
    if (!entry || entry.before !== split.before || !entry.reads.every((read) => read.again(this.context) === read.stamp)) return undefined;
    this.hits++;
    // Most recently used last: a Map keeps insertion order, so the first entry is the one to evict.
    this.entries.delete(split.after);
    this.entries.set(split.after, entry);
    return { outcome: withUid(entry.outcome, split.uid), json: `${entry.head}${JSON.stringify(split.uid)}${entry.tail}` };
  }

  /** admit(), keeping the answer for reviews that repeat `text` but for the uid. Throws what admit() throws. */
  admit(text: string, body: unknown): Answer {
    const reads: Read[] = [];
    const outcome = admit(body, this.recording(this.context, reads));
    this.misses++;
    const split = splitReviewUid(text);
    if (split && outcome.review.response.uid === split.uid && this.uidTokenIsRead(split)) {
      const { head, tail } = serialisedAround(outcome);
      this.store(split.after, { before: split.before, outcome: deepFreeze(withUid(outcome, '')), head, tail, reads, chars: text.length + head.length + tail.length });
    }
    return { outcome, json: JSON.stringify(outcome.review) };
  }

  stats(): ReviewCacheStats {
    return { hits: this.hits, misses: this.misses, entries: this.entries.size, chars: this.chars };
  }

  /** True when the uid JSON.parse reads is the token that was cut out, whatever that token holds. */
  private uidTokenIsRead(split: { uid: string; before: string; after: string }): boolean {
    const probe = `${split.uid}\u0000probe`;
    try {
      const parsed = JSON.parse(`${split.before}${JSON.stringify(probe)}${split.after}`) as { request?: { uid?: unknown } };
      return parsed.request?.uid === probe;
    } catch {
      return false;
    }
  }

  private store(key: string, entry: Entry): void {
    const stale = this.entries.get(key);
    if (stale) {
      this.entries.delete(key);
      this.chars -= stale.chars;
    }
    if (entry.chars > this.maxChars) return;
    this.entries.set(key, entry);
    this.chars += entry.chars;
    for (const [oldest, evicted] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.chars <= this.maxChars) break;
      this.entries.delete(oldest);
      this.chars -= evicted.chars;
    }
  }

  private id(meshConfig: MeshConfig): number {
    let id = this.ids.get(meshConfig);
    if (id === undefined) {
      id = this.nextId++;
      this.ids.set(meshConfig, id);
    }
    return id;
  }

  /** `context`, with every read the decision makes written down as it is made. */
  private recording(context: AdmissionContext, reads: Read[]): AdmissionContext {
    const record = <T>(value: T, stamp: (value: T) => string, again: (context: AdmissionContext) => T): T => {
      reads.push({ again: (c) => stamp(again(c)), stamp: stamp(value) });
      return value;
    };
    const json = (value: unknown): string => (value === undefined ? ABSENT : JSON.stringify(value));
    const meshConfigIds = (list: readonly MeshConfig[]): string => list.map((mc) => this.id(mc)).join(',');
    const { meshConfigsUnavailable, workload } = context;
    return {
      ...context,
      namespace: (name) => record(context.namespace(name), json, (c) => c.namespace(name)),
      meshConfigs: () => record(context.meshConfigs(), meshConfigIds, (c) => c.meshConfigs()),
      ...(meshConfigsUnavailable
        ? { meshConfigsUnavailable: () => record(meshConfigsUnavailable(), json, (c) => c.meshConfigsUnavailable?.()) }
        : {}),
      ...(workload
        ? { workload: (kind: WorkloadKind, namespace: string, name: string) => record(workload(kind, namespace, name), json, (c) => c.workload?.(kind, namespace, name)) }
        : {}),
    };
  }
}
