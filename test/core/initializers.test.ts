import { expect } from 'chai';
import fc from 'fast-check';
import { isOwnTurn, isUninitialized, pendingInitializerNames, removeOwnInitializer } from '../../controller/core/initializers.ts';
import type { Initializers, ObjectMeta } from '../../controller/core/types.ts';
import { deepFreeze, OUR_INITIALIZER, shopDeployment } from './fixtures/helpers.ts';

const OTHER = 'podpreset.initializer.example.com';
const THIRD = 'quota.initializer.example.com';

function meta(...pending: string[]): ObjectMeta {
  return { name: 'checkout', initializers: { pending: pending.map((name) => ({ name })) } };
}

/** Initializer names as they appear in InitializerConfigurations: DNS subdomains with at least two dots. */
const initializerName = fc
  .tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}[a-z0-9]$/), fc.constantFrom('initializer.example.com', 'init.acme.io', 'initializer.meshinit.dev'))
  .map(([head, tail]) => `${head}.${tail}`)
  .filter((name) => name !== OUR_INITIALIZER);

describe('core/initializers', () => {
  describe('pendingInitializerNames / isUninitialized', () => {
    it('lists pending names in order', () => {
      expect(pendingInitializerNames(shopDeployment().metadata)).to.deep.equal([OUR_INITIALIZER, OTHER, THIRD]);
    });

    it('is empty for initialized objects', () => {
      expect(pendingInitializerNames(undefined)).to.deep.equal([]);
      expect(pendingInitializerNames({ name: 'x' })).to.deep.equal([]);
      expect(pendingInitializerNames({ name: 'x', initializers: {} })).to.deep.equal([]);
      expect(pendingInitializerNames(meta())).to.deep.equal([]);
      expect(isUninitialized(meta())).to.equal(false);
      expect(isUninitialized({ name: 'x' })).to.equal(false);
      expect(isUninitialized(meta(OTHER))).to.equal(true);
    });
  });

  describe('isOwnTurn', () => {
    it('is true only when our name is first', () => {
      expect(isOwnTurn(meta(OUR_INITIALIZER), OUR_INITIALIZER)).to.equal(true);
      expect(isOwnTurn(meta(OUR_INITIALIZER, OTHER), OUR_INITIALIZER)).to.equal(true);
      expect(isOwnTurn(meta(OTHER, OUR_INITIALIZER), OUR_INITIALIZER)).to.equal(false);
      expect(isOwnTurn(meta(OTHER), OUR_INITIALIZER)).to.equal(false);
      expect(isOwnTurn(meta(), OUR_INITIALIZER)).to.equal(false);
      expect(isOwnTurn(undefined, OUR_INITIALIZER)).to.equal(false);
      expect(isOwnTurn({ name: 'x' }, OUR_INITIALIZER)).to.equal(false);
    });

    it('compares names exactly', () => {
      expect(isOwnTurn(meta(`${OUR_INITIALIZER}.`), OUR_INITIALIZER)).to.equal(false);
      expect(isOwnTurn(meta(OUR_INITIALIZER.toUpperCase()), OUR_INITIALIZER)).to.equal(false);
      expect(isOwnTurn(meta('sidecar.initializer.meshinit'), OUR_INITIALIZER)).to.equal(false);
    });

    it('honours a custom initializer name', () => {
      expect(isOwnTurn(meta(OTHER, OUR_INITIALIZER), OTHER)).to.equal(true);
    });
  });

  describe('removeOwnInitializer', () => {
    it('removes our entry from the front and keeps the others in order', () => {
      const before = deepFreeze(shopDeployment().metadata.initializers!);
      expect(removeOwnInitializer(before, OUR_INITIALIZER)).to.deep.equal({ pending: [{ name: OTHER }, { name: THIRD }] });
      expect(before.pending!.map((p) => p.name)).to.deep.equal([OUR_INITIALIZER, OTHER, THIRD]);
    });

    it('keeps unknown fields of the other entries and of the block', () => {
      const initializers: Initializers = { pending: [{ name: OUR_INITIALIZER }, { name: OTHER, extra: { a: 1 } }], futureField: 'x' };
      expect(removeOwnInitializer(initializers, OUR_INITIALIZER)).to.deep.equal({ pending: [{ name: OTHER, extra: { a: 1 } }], futureField: 'x' });
    });

    it('returns undefined when ours was the only entry', () => {
      expect(removeOwnInitializer({ pending: [{ name: OUR_INITIALIZER }] }, OUR_INITIALIZER)).to.equal(undefined);
    });

    it('keeps the block (with an empty pending list) when a result is set', () => {
      const result = { status: 'Failure', code: 403 };
      expect(removeOwnInitializer({ pending: [{ name: OUR_INITIALIZER }], result }, OUR_INITIALIZER)).to.deep.equal({ pending: [], result });
    });

    it('throws when it is not our turn, naming the pending list', () => {
      expect(() => removeOwnInitializer({ pending: [{ name: OTHER }, { name: OUR_INITIALIZER }] }, OUR_INITIALIZER)).to.throw(
        `initializer ${OUR_INITIALIZER} is not first in metadata.initializers.pending (${OTHER}, ${OUR_INITIALIZER})`,
      );
      expect(() => removeOwnInitializer({ pending: [] }, OUR_INITIALIZER)).to.throw(/not first .*\(empty\)/);
      expect(() => removeOwnInitializer(undefined, OUR_INITIALIZER)).to.throw(/not first/);
    });

    it('removing ours from the front yields exactly the other names, in order (property)', () => {
      fc.assert(
        fc.property(fc.array(initializerName, { maxLength: 8 }), (others) => {
          const initializers = deepFreeze({ pending: [OUR_INITIALIZER, ...others].map((name) => ({ name })) });
          const remaining = removeOwnInitializer(initializers, OUR_INITIALIZER);
          if (others.length === 0) {
            expect(remaining).to.equal(undefined);
          } else {
            expect(remaining?.pending?.map((p) => p.name)).to.deep.equal(others);
            expect(isOwnTurn({ initializers: remaining }, OUR_INITIALIZER)).to.equal(false);
            expect(isOwnTurn({ initializers: remaining }, others[0]!)).to.equal(true);
          }
        }),
        { numRuns: 200 },
      );
    });

    it('refuses whenever ours is not first (property)', () => {
      fc.assert(
        fc.property(fc.array(initializerName, { minLength: 1, maxLength: 6 }), fc.nat(), (others, at) => {
          const pending = [...others];
          pending.splice(1 + (at % others.length), 0, OUR_INITIALIZER);
          expect(isOwnTurn(meta(...pending), OUR_INITIALIZER)).to.equal(false);
          expect(() => removeOwnInitializer({ pending: pending.map((name) => ({ name })) }, OUR_INITIALIZER)).to.throw(/not first/);
        }),
        { numRuns: 200 },
      );
    });

    it('removes only the first of two entries with our name', () => {
      expect(removeOwnInitializer({ pending: [{ name: OUR_INITIALIZER }, { name: OTHER }, { name: OUR_INITIALIZER }] }, OUR_INITIALIZER)).to.deep.equal({
        pending: [{ name: OTHER }, { name: OUR_INITIALIZER }],
      });
    });
  });
});
