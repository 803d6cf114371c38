// One manifest of `meshinit inject`: the object as data, and where in which file it was read.
// Apart from the YAML reading and writing (inject-manifests.ts), so that the command can load
// the YAML library only once its flags ask for a run: `meshinit inject --help` starts fast.
import type { Document } from 'yaml';

/** One input file: every document's text is cut from it, so what no injection changed is copied. */
export interface Stream {
  source: string;
}

/** A document of a stream: its node offsets index `stream.source`. */
export interface SourceDocument {
  stream: Stream;
  document: Document;
  /** Where its text starts and ends in the stream (documents tile the stream). */
  from: number;
  to: number;
  /** The document as read. */
  value: unknown;
}

export interface Manifest {
  /** Where the manifest came from, for messages: `app.yaml: document 3` (`, item 2` in a List). */
  origin: string;
  /** The object as plain data (what policy and injection see); null for an empty document. */
  value: unknown;
  /** The document it was read from. */
  source: SourceDocument;
  /** Its index in the document's `items` when the document is a `kind: List`. */
  item: number | undefined;
}

/** The manifest holding `value` instead; its text is edited when the stream is rendered. */
export function withValue(manifest: Manifest, value: unknown): Manifest {
  return { ...manifest, value };
}

