// What the recorded servers do to an object besides storing it: defaulting (so answers carry the
// fields a real server adds, fixtures 02/05/07), generation bumps on spec changes, and the
// validation rules the Initializer protocol runs into (fixtures 12a, 14, 17, 18, 19).
import { isDeepStrictEqual } from 'node:util';
import type { FieldError } from './status.ts';
import type { ResourceType } from './resources.ts';

export interface PendingEntry {
  name: string;
  [key: string]: unknown;
}

export interface Meta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  initializers?: { pending?: PendingEntry[]; result?: Record<string, unknown> } | null;
  [key: string]: unknown;
}

export interface Obj {
  apiVersion?: string;
  kind?: string;
  metadata?: Meta;
  spec?: Record<string, unknown>;
  status?: unknown;
  [key: string]: unknown;
}

export type Flavor = '1.9' | '1.13';

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function setDefault(target: Record<string, unknown>, key: string, value: unknown): void {
  if (target[key] === undefined) target[key] = value;
}

export function pendingNames(object: Obj | undefined): string[] {
  return (object?.metadata?.initializers?.pending ?? []).map((entry) => entry.name);
}

export function isUninitialized(object: Obj | undefined): boolean {
  return pendingNames(object).length > 0;
}

function defaultContainer(container: unknown): void {
  const c = record(container);
  if (!c) return;
  setDefault(c, 'resources', {});
  setDefault(c, 'terminationMessagePath', '/dev/termination-log');
  setDefault(c, 'terminationMessagePolicy', 'File');
  const image = typeof c.image === 'string' ? c.image : '';
  const tag = image.includes('@') ? 'digest' : (/:([^/:]+)$/.exec(image)?.[1] ?? 'latest');
  setDefault(c, 'imagePullPolicy', tag === 'latest' ? 'Always' : 'IfNotPresent');
}

function defaultPodSpec(spec: unknown): void {
  const s = record(spec);
  if (!s) return;
  for (const list of ['initContainers', 'containers']) if (Array.isArray(s[list])) (s[list] as unknown[]).forEach(defaultContainer);
  setDefault(s, 'restartPolicy', 'Always');
  setDefault(s, 'terminationGracePeriodSeconds', 30);
  setDefault(s, 'dnsPolicy', 'ClusterFirst');
  setDefault(s, 'securityContext', {});
  setDefault(s, 'schedulerName', 'default-scheduler');
}

function defaultTemplate(spec: Record<string, unknown>): void {
  const template = record(spec.template);
  if (!template) return;
  const metadata = record(template.metadata) ?? {};
  template.metadata = metadata;
  setDefault(metadata, 'creationTimestamp', null);
  defaultPodSpec(template.spec);
}

const SPEC_DEFAULTS: Record<string, Record<string, unknown>> = {
  Deployment: { replicas: 1, strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } }, revisionHistoryLimit: 10, progressDeadlineSeconds: 600 },
  StatefulSet: { replicas: 1, podManagementPolicy: 'OrderedReady', updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } }, revisionHistoryLimit: 10 },
  DaemonSet: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } }, revisionHistoryLimit: 10 },
  Job: { parallelism: 1, completions: 1, backoffLimit: 6 },
};

/** Fills in what the server's defaulting adds; idempotent, so it runs after every write. */
export function applyDefaults(t: ResourceType, object: Obj): void {
  const spec = record(object.spec);
  if (t.kind === 'Pod') {
    defaultPodSpec(spec);
    setDefault(object, 'status', { phase: 'Pending', qosClass: 'BestEffort' });
    return;
  }
  if (t.kind === 'Namespace') {
    object.spec = spec ?? { finalizers: ['kubernetes'] };
    setDefault(object, 'status', { phase: 'Active' });
    return;
  }
  const defaults = SPEC_DEFAULTS[t.kind];
  if (!defaults || !spec) return;
  for (const [key, value] of Object.entries(defaults)) setDefault(spec, key, structuredClone(value));
  defaultTemplate(spec);
  setDefault(object, 'status', {});
}

/** A Job gets a selector on its own uid and the matching template labels when it is created. */
export function defaultJobSelector(object: Obj, uid: string): void {
  const spec = record(object.spec);
  if (!spec || spec.manualSelector === true) return;
  const template = record(spec.template);
  const metadata = template ? (record(template.metadata) ?? {}) : undefined;
  if (template && metadata) {
    template.metadata = metadata;
    metadata.labels = { 'controller-uid': uid, 'job-name': object.metadata?.name ?? '', ...(record(metadata.labels) as Record<string, string> | undefined) };
  }
  setDefault(spec, 'selector', { matchLabels: { 'controller-uid': uid } });
}

/** Server-side rules on an update (PATCH or PUT) of `previous` into `next`. */
export function validateUpdate(t: ResourceType, previous: Obj, next: Obj): FieldError[] {
  const errors: FieldError[] = [];
  const before = previous.metadata?.initializers;
  const after = next.metadata?.initializers;
  // Fixture 14: an initialized object can never become uninitialized again. The server prints "null".
  if (!before && after) {
    errors.push({ field: 'metadata.initializers', type: 'FieldValueInvalid', message: 'Invalid value: "null": field is immutable once initialization has completed' });
  }
  // Fixture 12a: the only result an initializer may set is a failure.
  const result = after?.result;
  if (result && result.status !== 'Failure') {
    errors.push({ field: 'metadata.initializers.result.status', type: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(result.status ?? '')}: must be 'Failure'` });
  }
  // Fixture 17: a Job's pod template is immutable, even while the Job is uninitialized.
  if (t.kind === 'Job' && !isDeepStrictEqual(record(previous.spec)?.template, record(next.spec)?.template)) {
    errors.push({ field: 'spec.template', type: 'FieldValueInvalid', message: `Invalid value: ${goPodTemplate(record(next.spec)?.template)}: field is immutable` });
  }
  // Fixture 18: an initialized Pod follows the ordinary pod update rules.
  if (t.kind === 'Pod' && !isUninitialized(previous)) {
    const count = (o: Obj) => (Array.isArray(record(o.spec)?.containers) ? (record(o.spec)!.containers as unknown[]).length : 0);
    if (count(previous) !== count(next)) errors.push({ field: 'spec.containers', type: 'FieldValueForbidden', message: 'Forbidden: pod updates may not add or remove containers' });
  }
  return errors;
}

/** The start of Go's %#v of a core.PodTemplateSpec, as the recorded 422 prints it (fixture 17). */
function goPodTemplate(template: unknown): string {
  const labels = record(record(template)?.metadata)?.labels as Record<string, string> | undefined;
  const goLabels = Object.keys(labels ?? {}).sort().map((key) => `${JSON.stringify(key)}:${JSON.stringify(labels![key])}`).join(', ');
  return 'core.PodTemplateSpec{ObjectMeta:v1.ObjectMeta{Name:"", GenerateName:"", Namespace:"", SelfLink:"", UID:"", ResourceVersion:"", Generation:0, ' +
    'CreationTimestamp:time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC), DeletionTimestamp:<nil>, DeletionGracePeriodSeconds:(*int64)(nil), ' +
    `Labels:map[string]string{${goLabels}}, ...}, Spec:core.PodSpec{...}}`;
}

/** Go's %#v of a decoded JSON value, as CRD validation errors print the whole object (fixture 19). */
export function goValue(value: unknown): string {
  if (Array.isArray(value)) return `[]interface {}{${value.map(goValue).join(', ')}}`;
  const r = record(value);
  if (r) return `map[string]interface {}{${Object.keys(r).sort().map((key) => `${JSON.stringify(key)}:${goValue(r[key])}`).join(', ')}}`;
  if (typeof value === 'number') return Number.isInteger(value) ? `${value}` : `${value}`;
  return value === null || value === undefined ? 'interface {}(nil)' : JSON.stringify(value);
}

const MESHCONFIG_ENUMS: Array<[string, string[]]> = [['policy', ['Enabled', 'Disabled']], ['failurePolicy', ['Ignore', 'Fail']]];

/** The CRD's openAPIV3Schema as far as the fixtures exercise it: required fields and enums. */
export function meshConfigSchemaErrors(object: Obj): string[] {
  const spec = record(object.spec);
  if (!spec) return ['spec in body is required'];
  const problems: string[] = [];
  if (!record(spec.sidecar)) problems.push('spec.sidecar in body is required');
  for (const [field, allowed] of MESHCONFIG_ENUMS) {
    if (spec[field] !== undefined && !allowed.includes(spec[field] as string)) problems.push(`spec.${field} in body should be one of [${allowed.join(' ')}]`);
  }
  return problems;
}
