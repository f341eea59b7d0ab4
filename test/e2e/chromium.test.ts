import { chromiumPath } from './localBrowser';

describe('the browser tests without Chromium', () => {
  it('fail at once with one sentence saying how to install it', () => {
    const started = Date.now();
    expect(() => chromiumPath('/nowhere/chromium')).toThrow(
      'The browser tests need Chromium at /nowhere/chromium: install it with "sudo apt-get install -y chromium" (or set CHROMIUM_PATH).',
    );
    expect(Date.now() - started).toBeLessThan(100);
  });

  it('find the Chromium this machine has', () => {
    expect(chromiumPath()).toBe(process.env.CHROMIUM_PATH ?? '/usr/bin/chromium');
  });
});
