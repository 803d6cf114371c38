// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**', 'bin/**', 'test/**/golden/**'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['controller/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': 'error',
    },
  },
  {
    // The injection core is pure: no I/O, no process, no Kubernetes client runtime.
    files: ['controller/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['node:*', 'fs', 'http', 'https', 'net', 'child_process', 'process'], message: 'controller/core is pure: no I/O imports' },
          { group: ['@kubernetes/client-node'], message: 'controller/core must not use the Kubernetes client', allowTypeImports: true },
          { group: ['winston', 'p-queue'], message: 'controller/core is pure: no logging or scheduling' },
        ],
      }],
      'no-restricted-globals': ['error', 'process', 'setTimeout', 'setInterval', 'fetch', 'console'],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-unused-expressions': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
