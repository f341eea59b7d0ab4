import { RequestError, VerificationError } from '../../src/core';
import { blockedMerge, httpAnswer, toFailure, toResult } from '../../src/handlers/result';

describe('errors become answers in one place', () => {
  const refused = new VerificationError('WRONG_COMMIT', 'You signed commit abc1234 but the pull request is now at def5678; review the new commit and sign again.');

  it('keeps a Countersign error\'s code and sentence in a bridge Result, a merge-check message and an HTTP answer', async () => {
    expect(await toResult(() => Promise.reject(refused))).toEqual({ ok: false, code: 'WRONG_COMMIT', message: refused.message });
    expect(blockedMerge(refused)).toEqual({ success: false, message: `Countersign could not verify approvals, so merging is blocked: ${refused.message}` });
    const http = httpAnswer(refused);
    expect(http.statusCode).toBe(422);
    expect(JSON.parse(http.body)).toEqual({ code: 'WRONG_COMMIT', message: refused.message });
    expect(httpAnswer(new RequestError('FORBIDDEN', 'No.')).statusCode).toBe(403);
  });

  it('turns anything else into INTERNAL everywhere, without its details', () => {
    const spy = jest.spyOn(console, 'error').mockImplementation(() => {});
    const crash = new TypeError('secret detail at /srv/app.js:42');
    expect(toFailure(crash)).toMatchObject({ ok: false, code: 'INTERNAL' });
    expect(blockedMerge(crash).message).not.toContain('secret detail');
    expect(httpAnswer(crash)).toMatchObject({ statusCode: 500 });
    expect(httpAnswer(crash).body).not.toContain('secret detail');
    spy.mockRestore();
  });

  it('lets the platform\'s consent prompt through', async () => {
    const consent = Object.assign(new Error('needs consent'), { name: 'NEEDS_AUTHENTICATION_ERR' });
    await expect(toResult(() => Promise.reject(consent))).rejects.toBe(consent);
  });
});
