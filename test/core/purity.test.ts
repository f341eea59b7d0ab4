import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The core stays runtime-neutral and side-effect free: the same code verifies in Forge, the CLI and the browser. */
const coreDir = join(__dirname, '../../src/core');
const files = readdirSync(coreDir).filter((f) => f.endsWith('.ts'));

describe('src/core', () => {
  it.each(files)('%s does no I/O and never reads the clock', (file) => {
    const source = readFileSync(join(coreDir, file), 'utf8');
    expect(source).not.toMatch(/from ['"]@forge\//);
    expect(source).not.toMatch(/from ['"](node:|fs|path|http|https|net|child_process)/);
    expect(source).not.toMatch(/Date\.now\(\)|new Date\(\)/);
    expect(source).not.toMatch(/\bfetch\(|\bprocess\.|\bconsole\./);
  });
});
