// Jest transform: TypeScript and the ESM-only dependencies (jose, canonicalize, @noble/curves) to CommonJS.
// Type checking is done separately by `tsc --noEmit` in `npm test`.
const { transformSync } = require('esbuild');

module.exports = {
  process(source, filename) {
    const loader = filename.endsWith('.tsx') ? 'tsx' : filename.endsWith('.ts') ? 'ts' : 'js';
    const { code, map } = transformSync(source, {
      loader,
      format: 'cjs',
      target: 'node20',
      sourcemap: 'both',
      sourcefile: filename,
      jsx: 'automatic',
    });
    return { code, map };
  },
};
