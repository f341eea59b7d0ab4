import { RequestError, VerificationError } from '../../src/core';
import { blockedMerge, toFailure, toResult } from '../../src/handlers/result';

describe('errors become answers in one place', () => {
  const refused = new VerificationError('WRONG_COMMIT', 'You signed commit abc1234 but the pull request is now at def5678; review the new commit and sign again.');

  it('keeps a Countersign error\'s code and sentence in a bridge Result and a merge-check message', async () => {
    expect(await toResult(() => Promise.reject(refused))).toEqual({ ok: false, code: 'WRONG_COMMIT', message: refused.message });
    expect(blockedMerge(refused)).toEqual({ success: false, message: `Countersign could not verify approvals, so merging is blocked: ${refused.message}` });
    expect(toFailure(new RequestError('FORBIDDEN', 'No.'))).toEqual({ ok: false, code: 'FORBIDDEN', message: 'No.' });
  });

  it('turns anything else into INTERNAL everywhere, without its details', () => {
    const spy = jest.spyOn(console, 'error').mockImplementation(() => {});
    const crash = new TypeError('secret detail at /srv/app.js:42');
    expect(toFailure(crash)).toMatchObject({ ok: false, code: 'INTERNAL' });
    expect(blockedMerge(crash).message).not.toContain('secret detail');
    expect(toFailure(crash).message).not.toContain('secret detail');
    spy.mockRestore();
  });

  it('lets the platform\'s consent prompt through', async () => {
    const consent = Object.assign(new Error('needs consent'), { name: 'NEEDS_AUTHENTICATION_ERR' });
    await expect(toResult(() => Promise.reject(consent))).rejects.toBe(consent);
  });
});
