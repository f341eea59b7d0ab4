import type { AuditPage } from '../../src/handlers/audit';
import { auditFacts } from '../../src/core/auditFacts';
import { deploymentRun, MERGE_COMMIT, PRODUCTION, type DeploymentRun } from '../fixtures/deploymentRun';
import { PEOPLE } from '../fixtures/world';

/** The audit page on deployments: their entries are found by type and person, and open to the signed statement. */
describe('the audit page on deployments', () => {
  let run: DeploymentRun;
  beforeAll(async () => {
    run = await deploymentRun({ unapproved: true });
  });
  afterAll(() => run.world.dispose());

  const audit = (payload: Record<string, unknown>, as: string = PEOPLE.outsider) => run.world.call<AuditPage>('getAuditPage', as, payload, run.world.context(as, undefined));
  async function entries(payload: Record<string, unknown>) {
    const result = await audit(payload);
    if (!result.ok) throw new Error(`${result.code} ${result.message}`);
    return result.data.entries;
  }

  it('filters by each deployment event type', async () => {
    expect((await entries({ type: 'deployment.requested' })).map((e) => e.type)).toEqual(['deployment.requested', 'deployment.requested']);
    expect(await entries({ type: 'deployment.decision.accepted' })).toHaveLength(3);
    expect(await entries({ type: 'deployment.allowed' })).toHaveLength(2);
    expect(await entries({ type: 'deployment.reported' })).toHaveLength(6);
  });

  it('opens a deployment decision to who signed what, with the signed statement decoded', async () => {
    const decisions = await entries({ type: 'deployment.decision.accepted', person: PEOPLE.alice });
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({ who: PEOPLE.alice, people: [PEOPLE.alice], commit: MERGE_COMMIT, decision: 'approve', keyId: expect.stringMatching(/\S/), pullRequest: null });
    expect(decisions[0]!.statement).toMatchObject({
      predicateType: 'https://countersign.dev/deployment-approval/v1',
      subject: [{ digest: { gitCommit: MERGE_COMMIT } }],
      predicate: { environment: PRODUCTION, decision: 'approve', signer: PEOPLE.alice },
    });
  });

  it('finds an allowance by the people it counted and the pipeline starter, and names its policy version', async () => {
    const allowed = await entries({ type: 'deployment.allowed', person: PEOPLE.bob });
    expect(allowed).toHaveLength(1);
    expect(allowed[0]).toMatchObject({ commit: MERGE_COMMIT, policyVersion: 1, statement: null });
    expect(allowed[0]!.people).toEqual(expect.arrayContaining([PEOPLE.alice, PEOPLE.bob, PEOPLE.dave, PEOPLE.author]));
  });

  it('shows the flagged report with its flag', async () => {
    const flagged = (await entries({ type: 'deployment.reported' })).filter((e) => (e.event as { flagged?: boolean }).flagged);
    expect(flagged).toHaveLength(1);
    expect(flagged[0]!.event).toMatchObject({ state: 'completed', outcome: 'SUCCESSFUL', allowed: false, flagged: true });
  });

  it('derives facts from a partial event without throwing', () => {
    expect(auditFacts({ type: 'deployment.allowed' })).toMatchObject({ type: 'deployment.allowed', people: [], commit: null });
    expect(auditFacts({ type: 'deployment.requested', subject: { commit: MERGE_COMMIT } })).toMatchObject({ commit: MERGE_COMMIT, people: [] });
  });
});
