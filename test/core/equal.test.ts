// deepEqual against lodash/isEqual, which it replaces in the core and the CLI: the same answer on
// JSON-shaped data.
import { expect } from 'chai';
import isEqual from 'lodash/isEqual.js';
import { deepEqual } from '../../controller/core/equal.ts';

const CASES: Array<[unknown, unknown]> = [
  [1, 1], [1, '1'], [0, -0], [NaN, NaN], [null, undefined], [null, null], ['a', 'a'], [true, false],
  [{ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }],
  [{ a: 1 }, { a: 1, b: undefined }], [{ a: undefined }, { b: undefined }], [{ a: undefined }, { a: undefined }],
  [[1, 2], [2, 1]], [[1, 2], [1, 2, 3]], [[], {}], [{}, {}], [{ a: [] }, { a: {} }], [[null], [undefined]],
  [Object.create(null) as object, {}], [{ a: { b: { c: [1, 2, { d: 'x' }] } } }, { a: { b: { c: [1, 2, { d: 'y' }] } } }],
];

describe('deepEqual', () => {
  for (const [a, b] of CASES) {
    it(`${JSON.stringify(a) ?? String(a)} vs ${JSON.stringify(b) ?? String(b)}: as lodash/isEqual`, () => {
      expect(deepEqual(a, b)).to.equal(isEqual(a, b));
      expect(deepEqual(b, a)).to.equal(isEqual(b, a));
    });
  }
});
