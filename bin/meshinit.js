#!/usr/bin/env node
// Launcher for the compiled CLI (npm ci builds dist/ through the "prepare" script).
try {
  await import('../dist/controller/entry.js');
} catch (error) {
  if (error && error.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/controller/entry.js')) {
    process.stderr.write('meshinit is not built: run "npm ci" (or "npm run build") in the meshinit directory first\n');
    process.exit(1);
  }
  throw error;
}
