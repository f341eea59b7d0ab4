import { BitbucketHttpError } from '../../dev/fakeBitbucket';
import { DOCUMENT_ENTITY, storageKeys } from '../../src/adapters/keys';
import { aRule, PEOPLE, REPOSITORY, signStatement, World } from '../fixtures/world';

/**
 * People are named by display name in the merge check's message and the card, including signers who
 * are not participants of the pull request: the name Bitbucket gives the signer (GET /2.0/user, asked
 * as them) is kept with their decision, so the merge check names them from what it already reads.
 */
describe('display names kept with decisions', () => {
  const JORDAN = '557058:d4f3-jordan';
  let world: World;

  beforeEach(async () => {
    world = new World();
    // Jordan may sign but is neither the author, a reviewer nor a commit author: Bitbucket's pull request does not name them.
    world.addReviewer(JORDAN, 'Jordan Lee');
    await world.savePolicy([aRule({ requirements: [{ group: 'Maintainers', members: [PEOPLE.alice, JORDAN], count: 2 }] })]);
  });
  afterEach(() => world.dispose());

  const bucketOf = (person: string) => storageKeys.approvalBucket(REPOSITORY, 1, storageKeys.approvalBucketOf(person));
  const storedRecord = (person: string) => (world.host.kvs.peek(bucketOf(person), DOCUMENT_ENTITY) as any).document[person];

  it('names a signer who is not a participant in the merge check and on the card, never by account ID', async () => {
    const jordan = await world.enrolledSigner(JORDAN);
    expect(await world.sign(jordan)).toMatchObject({ ok: true });
    expect(storedRecord(JORDAN).signerName).toBe('Jordan Lee');

    const merge = await world.mergeCheck();
    expect(merge.message).toBe(`Countersign: Maintainers 1 of 2 signed (Jordan Lee) — waiting for signatures on ${world.head.slice(0, 7)}.`);
    expect(merge.message).not.toContain(JORDAN);

    const panel = await world.panel(PEOPLE.alice);
    expect(panel.verdict.rules[0].requirements[0].counted).toEqual([JORDAN]);
    expect((panel.verdict as any).names).toEqual({ [JORDAN]: 'Jordan Lee' });
  });

  it('asks Bitbucket as the signer, beside the other reads of a submission', async () => {
    const jordan = await world.enrolledSigner(JORDAN);
    const statement = await world.statementFor(jordan);
    world.host.calls.bitbucket.length = 0;
    expect(await world.submit(jordan, statement)).toMatchObject({ ok: true });
    expect(world.host.calls.bitbucket.filter((call) => call === 'GET /2.0/user')).toHaveLength(1);
  });

  it('keeps the merge check to its reads: it never asks Bitbucket for anyone’s profile', async () => {
    const jordan = await world.enrolledSigner(JORDAN);
    expect(await world.sign(jordan)).toMatchObject({ ok: true });
    world.host.calls.bitbucket.length = 0;
    await world.mergeCheck();
    expect(world.host.calls.bitbucket.map((call) => call.split('?')[0])).toEqual([
      expect.stringMatching(/^GET \/2\.0\/repositories\/[^/]+\/[^/]+\/pullrequests\/1$/),
      expect.stringMatching(/^GET \/2\.0\/repositories\/[^/]+\/[^/]+\/pullrequests\/1\/commits$/),
    ]);
  });

  it('accepts the decision without a name when Bitbucket does not say who is calling, and names the signer neutrally', async () => {
    const handle = world.host.bitbucket.handle.bind(world.host.bitbucket);
    jest.spyOn(world.host.bitbucket, 'handle').mockImplementation((method, path, body, caller) => {
      if (new URL(path, 'https://api.bitbucket.org').pathname === '/2.0/user') throw new BitbucketHttpError(503, 'Service unavailable');
      return handle(method, path, body, caller);
    });
    const jordan = await world.enrolledSigner(JORDAN);
    expect(await world.sign(jordan)).toMatchObject({ ok: true });
    expect(storedRecord(JORDAN)).not.toHaveProperty('signerName');
    expect((await world.mergeCheck()).message).toContain(`Maintainers 1 of 2 signed (a signer (account ${JORDAN}))`);
  });

  it('does not keep a name Bitbucket gives for another account than the signer', async () => {
    const handle = world.host.bitbucket.handle.bind(world.host.bitbucket);
    jest.spyOn(world.host.bitbucket, 'handle').mockImplementation((method, path, body, caller) =>
      new URL(path, 'https://api.bitbucket.org').pathname === '/2.0/user' ? handle(method, path, body, PEOPLE.bob) : handle(method, path, body, caller),
    );
    const jordan = await world.enrolledSigner(JORDAN);
    expect(await world.sign(jordan)).toMatchObject({ ok: true });
    expect(storedRecord(JORDAN)).not.toHaveProperty('signerName');
  });

  it('still reads decisions stored before names were kept: participants by Bitbucket’s name, others neutrally', async () => {
    const { hash } = (await world.deps.gate.loadPolicy(REPOSITORY))!;
    await world.seedApprovals([PEOPLE.alice, JORDAN], hash);
    expect(storedRecord(JORDAN)).not.toHaveProperty('signerName');
    const merge = await world.mergeCheck();
    expect(merge).toEqual({ success: true, message: `Countersign: approved on ${world.head.slice(0, 7)} — Maintainers 2 of 2 signed (alice, a signer (account ${JORDAN})).` });
  });

  it('fails closed when a recorded name is changed in storage: the bucket seal covers it', async () => {
    const jordan = await world.enrolledSigner(JORDAN);
    expect(await world.sign(jordan)).toMatchObject({ ok: true });
    world.host.kvs.tamper(bucketOf(JORDAN), (doc: any) => {
      doc.document[JORDAN].signerName = 'Alice';
      return doc;
    }, DOCUMENT_ENTITY);
    expect(await world.mergeCheck()).toEqual({ success: false, message: expect.stringContaining('stored signatures were changed outside Countersign') });
  });

  it('hands the recorded name to whoever loads the gate, from the same batch read', async () => {
    const jordan = await world.enrolledSigner(JORDAN);
    expect(await world.sign(jordan)).toMatchObject({ ok: true });
    const gate = await world.deps.gate.loadGate(REPOSITORY, 1);
    expect(gate.approvals.map((a) => [a.signer, a.record.signerName])).toEqual([[JORDAN, 'Jordan Lee']]);
  });

  it('never takes a name from the browser: a submission that carries one is refused and stores nothing', async () => {
    const jordan = await world.enrolledSigner(JORDAN);
    const statement = await world.statementFor(jordan);
    const envelope = await signStatement(jordan, statement);
    const before = world.host.kvs.snapshot();
    const result = await world.call('submitDecision', JORDAN, { envelope, signerName: 'Alice' });
    expect(result).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
    expect(world.host.kvs.snapshot()).toBe(before);
  });
});
