// The Grafana dashboard and the alert rules cannot drift from the code: every metric they read is one
// the registry serves (with the histogram suffixes where it is a histogram), every label they filter
// or group by is one that metric has (or one the scrape adds), every label value they match is one
// the code can produce; and the ServiceMonitor overlays render and point at the port /metrics is on.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { REASON_CODES } from '../controller/core/reasons.ts';
import { DECISION_ACTIONS, Metrics, METRIC_KINDS } from '../controller/metrics.ts';
import { repoRoot } from './support/transcripts.ts';

type Json = Record<string, unknown>;

/** Labels Prometheus and the operator's Kubernetes service discovery put on every scraped series. */
const TARGET_LABELS = new Set(['job', 'instance', 'pod', 'namespace', 'service', 'container', 'endpoint']);
/** Series that do not come from meshinit's registry. */
const SCRAPE_METRICS = new Set(['up']);
/** Label values the code can produce, where the set is closed. */
const LABEL_VALUES: Record<string, readonly string[]> = {
  action: DECISION_ACTIONS,
  reason: REASON_CODES,
  kind: METRIC_KINDS,
  mode: ['initializer', 'webhook'],
  validity: ['valid', 'invalid'],
  type: ['Normal', 'Warning'],
  outcome: ['created', 'patched', 'dropped', 'failed'],
  code: ['409', '422', '500'],
};
/** PromQL words that look like metric names. */
const PROMQL_WORDS = new Set(['sum', 'max', 'min', 'count', 'avg', 'rate', 'increase', 'irate', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'histogram_quantile', 'absent', 'and', 'or', 'unless', 'bool', 'le']);

interface Served { type: string; labels: Set<string> }

/** Sample names the registry serves, each with its metric's type and labels. */
function served(): Map<string, Served> {
  const out = new Map<string, Served>();
  for (const metric of new Metrics().registry.getMetricsAsArray() as unknown as Array<{ name: string; type: string; labelNames: string[] }>) {
    const labels = new Set(metric.labelNames ?? []);
    if (metric.type === 'histogram') {
      out.set(`${metric.name}_bucket`, { type: metric.type, labels: new Set([...labels, 'le']) });
      out.set(`${metric.name}_sum`, { type: metric.type, labels });
      out.set(`${metric.name}_count`, { type: metric.type, labels });
    } else {
      out.set(metric.name, { type: metric.type, labels });
    }
  }
  return out;
}

interface Selector { metric: string; matchers: Array<{ label: string; op: string; value: string }> }

/** The metric selectors of a PromQL expression: `name{label op "value", ...}` and bare `name`. */
function selectors(expr: string): Selector[] {
  const out: Selector[] = [];
  const withoutStrings = expr.replace(/"[^"]*"/g, (s) => s.replace(/[a-z_]/gi, 'x'));
  for (const match of expr.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?/g)) {
    const name = match[1]!;
    // Skip words inside strings, function names (followed by "("), keywords, label names in by(...).
    if (withoutStrings.slice(match.index, match.index + name.length) !== name) continue;
    const after = expr.slice(match.index + match[0].length).trimStart();
    if (PROMQL_WORDS.has(name) || (after.startsWith('(') && !match[2])) continue;
    if (expr[match.index - 1] === '$') continue; // a Grafana variable, $__rate_interval
    const before = expr.slice(0, match.index);
    if (/\b(by|without|on|ignoring)\s*\([^)]*$/.test(before)) continue;
    const matchers = [...(match[2] ?? '').matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)].map((m) => ({ label: m[1]!, op: m[2]!, value: m[3]! }));
    out.push({ metric: name, matchers });
  }
  return out;
}

function groupings(expr: string): string[] {
  return [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((l) => l.trim()).filter(Boolean));
}

/** Checks one expression against the registry; returns what it read. */
function check(expr: string, where: string, registry: Map<string, Served>): string[] {
  const found = selectors(expr);
  expect(found.length, `${where}: reads some metric: ${expr}`).to.be.greaterThan(0);
  const labelsInScope = new Set<string>(TARGET_LABELS);
  for (const { metric, matchers } of found) {
    if (SCRAPE_METRICS.has(metric)) {
      for (const m of matchers) expect(TARGET_LABELS.has(m.label), `${where}: ${metric} label ${m.label}`).to.equal(true);
      continue;
    }
    const known = registry.get(metric);
    expect(known, `${where}: ${metric} is not served by meshinit (expr: ${expr})`).to.not.equal(undefined);
    for (const label of known!.labels) labelsInScope.add(label);
    for (const { label, op, value } of matchers) {
      expect(known!.labels.has(label) || TARGET_LABELS.has(label), `${where}: ${metric} has no label ${label}`).to.equal(true);
      const allowed = LABEL_VALUES[label];
      if (!allowed) continue;
      const values = op.endsWith('~') ? value.split('|') : [value];
      for (const v of values) expect(allowed, `${where}: ${metric}{${label}${op}"${value}"}: ${v} is never produced`).to.include(v);
    }
  }
  for (const label of groupings(expr)) expect(labelsInScope.has(label), `${where}: grouping by ${label}, which no metric read here has`).to.equal(true);
  return found.map((f) => f.metric);
}

const MONITORING = path.join(repoRoot, 'manifests/monitoring');
const dashboard = JSON.parse(fs.readFileSync(path.join(MONITORING, 'grafana-dashboard.json'), 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
const rule = parseAllDocuments(fs.readFileSync(path.join(MONITORING, 'prometheusrule.yaml'), 'utf8'))[0]!.toJS() as { spec: { groups: Array<{ rules: Array<{ alert: string; expr: string; for?: string }> }> } };
const rules = rule.spec.groups.flatMap((g) => g.rules);

function kustomize(dir: string): Json[] {
  const text = execFileSync('kubectl', ['kustomize', path.join(repoRoot, dir)], { encoding: 'utf8', timeout: 30_000 });
  return parseAllDocuments(text).map((d) => d.toJS() as Json);
}

describe('monitoring manifests match the metrics the code serves', function () {
  const registry = served();

  it('the parser finds metric names, labels and values, and rejects an unknown metric, label or value', function () {
    expect(selectors('sum by (action) (rate(meshinit_decisions_total{action="failed",reason=~"a|b"}[5m])) > 0')).to.deep.equal([
      { metric: 'meshinit_decisions_total', matchers: [{ label: 'action', op: '=', value: 'failed' }, { label: 'reason', op: '=~', value: 'a|b' }] },
    ]);
    expect(() => check('rate(meshinit_decisions_totl[5m])', 'typo', registry)).to.throw(/not served/);
    expect(() => check('meshinit_decisions_total{verdict="x"}', 'label', registry)).to.throw(/no label verdict/);
    expect(() => check('meshinit_decisions_total{action="denied"}', 'value', registry)).to.throw(/never produced/);
    expect(() => check('sum by (verdict) (meshinit_leader)', 'grouping', registry)).to.throw(/grouping by verdict/);
    expect(() => check('histogram_quantile(0.9, rate(meshinit_sync_duration_seconds[5m]))', 'histogram without suffix', registry)).to.throw(/not served/);
  });

  it('every dashboard query reads only served metrics, labels and values; the panels the issue asks for are there', function () {
    const read = new Set<string>();
    for (const panel of dashboard.panels) {
      expect(panel.targets.length, panel.title).to.be.greaterThan(0);
      for (const target of panel.targets) for (const metric of check(target.expr, `panel "${panel.title}"`, registry)) read.add(metric);
    }
    for (const metric of ['meshinit_decisions_total', 'meshinit_workload_wait_seconds_bucket', 'meshinit_workqueue_depth', 'meshinit_api_throttled_total', 'meshinit_leader', 'meshinit_meshconfigs']) {
      expect([...read], `a panel shows ${metric}`).to.include(metric);
    }
    const quantiles = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)).filter((e) => e.includes('meshinit_workload_wait_seconds_bucket'));
    expect(quantiles.some((e) => e.startsWith('histogram_quantile(0.5,'))).to.equal(true);
    expect(quantiles.some((e) => e.startsWith('histogram_quantile(0.99,'))).to.equal(true);
  });

  it('every alert expression reads only served metrics, labels and values; the alerts the issue asks for are there', function () {
    for (const r of rules) check(r.expr, `alert ${r.alert}`, registry);
    expect(rules.map((r) => r.alert)).to.include.members(['MeshinitWorkloadsPendingTooLong', 'MeshinitInjectionFailures', 'MeshinitNotReady', 'MeshinitAbsent', 'MeshinitNoLeader']);
    expect(new Set(rules.map((r) => r.alert)).size, 'unique alert names').to.equal(rules.length);
  });

  for (const [mode, overlay, base] of [['initializer', 'manifests/overlays/initializer-monitoring', 'manifests/initializer'], ['webhook', 'manifests/overlays/webhook-monitoring', 'manifests/webhook']] as const) {
    it(`${mode}: the overlay renders the base install plus a metrics Service, ServiceMonitor, PrometheusRule and dashboard ConfigMap that point at /metrics`, function () {
      this.timeout(60_000);
      const docs = kustomize(overlay);
      const baseKeys = kustomize(base).map((d) => `${String(d.kind)}/${String((d.metadata as Json).name)}`);
      const keys = docs.map((d) => `${String(d.kind)}/${String((d.metadata as Json).name)}`);
      expect(keys).to.include.members(baseKeys);
      expect(keys.filter((k) => !baseKeys.includes(k)).sort()).to.deep.equal(['ConfigMap/meshinit-grafana-dashboard', 'PrometheusRule/meshinit', 'Service/meshinit-metrics', 'ServiceMonitor/meshinit']);
      const byKind = (kind: string, name: string) => docs.find((d) => d.kind === kind && (d.metadata as Json).name === name) as Json & { metadata: Json; spec: Json };
      const service = byKind('Service', 'meshinit-metrics');
      const deployment = byKind('Deployment', 'meshinit');
      const template = deployment.spec.template as { metadata: { labels: Record<string, string> }; spec: { containers: Array<{ args: string[]; ports: Array<{ name: string; containerPort: number }> }> } };
      const selector = service.spec.selector as Record<string, string>;
      for (const [k, v] of Object.entries(selector)) expect(template.metadata.labels[k], `Service selects the Pods: ${k}`).to.equal(v);
      const port = (service.spec.ports as Array<{ name: string; targetPort: string }>)[0]!;
      const container = template.spec.containers[0]!;
      const health = container.ports.find((p) => p.name === port.targetPort);
      expect(health, 'the Service targets a named container port').to.not.equal(undefined);
      const address = container.args[container.args.indexOf('--health-addr') + 1];
      expect(address, '/metrics is on the health listener, the port the Service targets').to.equal(`:${health!.containerPort}`);
      const monitor = byKind('ServiceMonitor', 'meshinit');
      const wanted = (monitor.spec.selector as { matchLabels: Record<string, string> }).matchLabels;
      for (const [k, v] of Object.entries(wanted)) expect((service.metadata.labels as Record<string, string>)[k], `ServiceMonitor selects the Service: ${k}`).to.equal(v);
      expect((monitor.spec.endpoints as Array<{ port: string; path: string }>)[0]).to.include({ port: port.name, path: '/metrics' });
      // The alert rules name the job Prometheus gives this Service's targets: the Service's name.
      expect(rules.find((r) => r.alert === 'MeshinitAbsent')!.expr).to.include(`job="${String(service.metadata.name)}"`);
      const configMap = byKind('ConfigMap', 'meshinit-grafana-dashboard') as unknown as { data: Record<string, string>; metadata: { labels: Record<string, string> } };
      expect(configMap.metadata.labels.grafana_dashboard).to.equal('1');
      expect(JSON.parse(configMap.data['grafana-dashboard.json']!)).to.deep.equal(dashboard);
    });
  }
});
