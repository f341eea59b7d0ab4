/**
 * Jest runs each test file in its own realm, whose `Symbol` lacks the `Symbol.dispose` and
 * `Symbol.asyncDispose` Node 20 adds to its own. Playwright (which wants Node 22) names its disposers
 * with them, so in that realm its disposers have the key "undefined" and acting on an element inside a
 * cross-origin frame fails with "Object not disposable". Imported before playwright-core.
 */
const symbols = Symbol as unknown as { dispose?: symbol; asyncDispose?: symbol };
symbols.dispose ??= Symbol.for('nodejs.dispose');
symbols.asyncDispose ??= Symbol.for('nodejs.asyncDispose');

export {};
