import { expect } from 'chai';
import fc from 'fast-check';
import { compareMeshConfigs, matchesLabelSelector, selectMeshConfig, type SelectionTarget } from '../../controller/core/selection.ts';
import type { LabelSelector, MeshConfig } from '../../controller/core/types.ts';
import { envoyMeshConfig, meshConfig, namespace } from './fixtures/helpers.ts';

const web = { app: 'web', tier: 'frontend', version: 'v2' };

function target(overrides: Partial<SelectionTarget> = {}): SelectionTarget {
  return { kind: 'Deployment', labels: web, namespace: namespace('shop', { mesh: 'enabled' }), ...overrides };
}

function selectedName(meshConfigs: MeshConfig[], t: SelectionTarget = target()): string | undefined {
  return selectMeshConfig(meshConfigs, t).selected?.name;
}

describe('core/selection', () => {
  describe('matchesLabelSelector', () => {
    const cases: Array<[string, LabelSelector, Record<string, string>, boolean]> = [
      ['empty selector matches labels', {}, web, true],
      ['empty selector matches no labels', {}, {}, true],
      ['empty matchLabels and matchExpressions match', { matchLabels: {}, matchExpressions: [] }, {}, true],
      ['matchLabels: all pairs present', { matchLabels: { app: 'web', tier: 'frontend' } }, web, true],
      ['matchLabels: one value differs', { matchLabels: { app: 'web', tier: 'backend' } }, web, false],
      ['matchLabels: key missing', { matchLabels: { team: 'a' } }, web, false],
      ['matchLabels: empty value vs missing key', { matchLabels: { canary: '' } }, web, false],
      ['matchLabels: empty value vs empty label', { matchLabels: { canary: '' } }, { canary: '' }, true],
      ['In: value listed', { matchExpressions: [{ key: 'version', operator: 'In', values: ['v1', 'v2'] }] }, web, true],
      ['In: value not listed', { matchExpressions: [{ key: 'version', operator: 'In', values: ['v1', 'v3'] }] }, web, false],
      ['In: key missing', { matchExpressions: [{ key: 'canary', operator: 'In', values: ['true'] }] }, web, false],
      ['NotIn: value listed', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['frontend'] }] }, web, false],
      ['NotIn: value not listed', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['backend'] }] }, web, true],
      ['NotIn: key missing matches', { matchExpressions: [{ key: 'canary', operator: 'NotIn', values: ['true'] }] }, web, true],
      ['Exists: present', { matchExpressions: [{ key: 'app', operator: 'Exists' }] }, web, true],
      ['Exists: present with empty value', { matchExpressions: [{ key: 'canary', operator: 'Exists' }] }, { canary: '' }, true],
      ['Exists: missing', { matchExpressions: [{ key: 'canary', operator: 'Exists' }] }, web, false],
      ['DoesNotExist: missing', { matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }] }, web, true],
      ['DoesNotExist: present', { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, web, false],
      [
        'requirements are ANDed: one fails',
        { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['frontend'] }, { key: 'version', operator: 'NotIn', values: ['v2'] }] },
        web,
        false,
      ],
      [
        'requirements are ANDed: all hold',
        { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['frontend'] }, { key: 'canary', operator: 'DoesNotExist' }] },
        web,
        true,
      ],
      ['inherited keys are not labels', { matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, {}, false],
      ['inherited keys do not exist', { matchExpressions: [{ key: 'toString', operator: 'DoesNotExist' }] }, {}, true],
    ];
    for (const [title, selector, labels, expected] of cases) {
      it(`${title} → ${expected}`, () => {
        expect(matchesLabelSelector(selector, labels)).to.equal(expected);
      });
    }

    it('NotIn is the negation of In on the same values (property)', () => {
      const label = fc.constantFrom('a', 'b', 'c', 'd');
      fc.assert(
        fc.property(fc.dictionary(fc.constantFrom('k', 'x'), label), fc.uniqueArray(label, { minLength: 1 }), (labels, values) => {
          const inSel = matchesLabelSelector({ matchExpressions: [{ key: 'k', operator: 'In', values }] }, labels);
          const notIn = matchesLabelSelector({ matchExpressions: [{ key: 'k', operator: 'NotIn', values }] }, labels);
          expect(notIn).to.equal(!inSel);
          const exists = matchesLabelSelector({ matchExpressions: [{ key: 'k', operator: 'Exists' }] }, labels);
          expect(matchesLabelSelector({ matchExpressions: [{ key: 'k', operator: 'DoesNotExist' }] }, labels)).to.equal(!exists);
          expect(exists).to.equal(Object.hasOwn(labels, 'k'));
        }),
        { numRuns: 200 },
      );
    });
  });

  describe('selectMeshConfig', () => {
    it('says no MeshConfig exists when the list is empty', () => {
      expect(selectMeshConfig([], target())).to.deep.equal({ selected: undefined, reason: 'no MeshConfig exists', code: 'no_meshconfig' });
    });

    it('selects the only matching MeshConfig', () => {
      const selection = selectMeshConfig([envoyMeshConfig()], target());
      expect(selection.selected?.name).to.equal('envoy-mesh');
    });

    it('explains when no MeshConfig selects the namespace', () => {
      const selection = selectMeshConfig([envoyMeshConfig()], target({ namespace: namespace('billing', { mesh: 'disabled' }) }));
      expect(selection.selected).to.equal(undefined);
      if (selection.selected === undefined) {
        expect(selection.reason).to.match(/^no MeshConfig selects it/);
        expect(selection.reason).to.include('namespace billing');
      }
    });

    it('explains when no MeshConfig selects the workload labels', () => {
      const selection = selectMeshConfig([envoyMeshConfig()], target({ labels: { ...web, 'mesh.meshinit.dev/exclude': 'true' } }));
      expect(selection.selected).to.equal(undefined);
      if (selection.selected === undefined) expect(selection.reason).to.match(/^no MeshConfig selects it/);
    });

    it('names the kind and the MeshConfigs (sorted) when only the kind does not match', () => {
      const a = meshConfig('zeta', { kinds: ['Job'] });
      const b = meshConfig('alpha', { kinds: ['StatefulSet', 'DaemonSet'] });
      const unrelated = meshConfig('other-ns', { namespaceSelector: { matchLabels: { team: 'x' } } });
      const selection = selectMeshConfig([a, unrelated, b], target({ kind: 'Deployment' }));
      expect(selection).to.deep.equal({ selected: undefined, reason: 'kind Deployment is not in the kinds of MeshConfig alpha, zeta', code: 'kind_not_selected' });
    });

    it('prefers the highest priority, whatever the input order', () => {
      const low = meshConfig('aaa-low', { priority: 1 });
      const high = meshConfig('zzz-high', { priority: 100 });
      const negative = meshConfig('negative', { priority: -10 });
      expect(selectedName([low, high, negative])).to.equal('zzz-high');
      expect(selectedName([negative, high, low])).to.equal('zzz-high');
      expect(selectedName([negative, low])).to.equal('aaa-low');
    });

    it('breaks priority ties by name', () => {
      const b = meshConfig('mesh-b', { priority: 5 });
      const a = meshConfig('mesh-a', { priority: 5 });
      const c = meshConfig('mesh-c', { priority: 5 });
      expect(selectedName([c, b, a])).to.equal('mesh-a');
      expect(selectedName([b, c])).to.equal('mesh-b');
    });

    it('a higher-priority MeshConfig that does not select the workload does not win', () => {
      const high = meshConfig('high', { priority: 50, selector: { matchLabels: { app: 'api' } } });
      const highWrongKind = meshConfig('high-jobs', { priority: 60, kinds: ['Job'] });
      const low = meshConfig('low', { priority: 1 });
      expect(selectedName([high, highWrongKind, low])).to.equal('low');
    });

    it('does not reorder the caller\'s list', () => {
      const list = [meshConfig('b', { priority: 1 }), meshConfig('a', { priority: 2 })];
      selectMeshConfig(list, target());
      expect(list.map((mc) => mc.name)).to.deep.equal(['b', 'a']);
    });

    it('the choice does not depend on input order (property)', () => {
      const pool = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];
      const arb = fc.uniqueArray(fc.record({ name: fc.constantFrom(...pool), priority: fc.integer({ min: -3, max: 3 }) }), { selector: (r) => r.name, minLength: 1 });
      fc.assert(
        fc.property(arb, fc.nat(), (specs, rotation) => {
          const configs = specs.map((s) => meshConfig(s.name, { priority: s.priority }));
          const shuffled = [...configs];
          shuffled.reverse();
          shuffled.push(...shuffled.splice(0, rotation % shuffled.length));
          const expected = [...specs].sort((x, y) => y.priority - x.priority || (x.name < y.name ? -1 : 1))[0]!.name;
          expect(selectedName(configs)).to.equal(expected);
          expect(selectedName(shuffled)).to.equal(expected);
        }),
        { numRuns: 200 },
      );
    });
  });

  describe('compareMeshConfigs', () => {
    it('orders by priority descending, then by name ascending', () => {
      const list = [meshConfig('b', { priority: 1 }), meshConfig('c', { priority: 3 }), meshConfig('a', { priority: 1 }), meshConfig('d', { priority: -1 })];
      expect([...list].sort(compareMeshConfigs).map((mc) => mc.name)).to.deep.equal(['c', 'a', 'b', 'd']);
      expect(compareMeshConfigs(list[0]!, meshConfig('b', { priority: 1 }))).to.equal(0);
    });
  });
});
