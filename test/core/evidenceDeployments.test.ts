import type { LedgerEntry } from '../../src/core';
import { verifyEvidence, type EvidenceProblemCode, type EvidenceReport } from '../../src/core/evidence';
import { entriesOf, insiderKey, resign, type InsiderKey } from '../fixtures/evidenceRun';
import { deploymentRun, MERGE_COMMIT, PRODUCTION, STAGING } from '../fixtures/deploymentRun';
import { commitHash, PEOPLE } from '../fixtures/world';

/** Deployments in evidence bundles: approvals, the gate's yes re-run offline, the merge -> deploy chain and flagged deployments. */
let lines: string[];
let entries: LedgerEntry[];
let appKeyId: string;
let insider: InsiderKey;

beforeAll(async () => {
  const run = await deploymentRun();
  lines = run.lines;
  entries = entriesOf(lines);
  appKeyId = (await run.world.deps.ledger.appPublicKey()).keyId;
  run.world.dispose();
  insider = await insiderKey();
});

async function verify(bundle: string[], trusted?: string[]): Promise<EvidenceReport> {
  const report = await verifyEvidence(bundle, trusted ? { trustedAppKeyIds: trusted } : {});
  if ('error' in report) throw new Error(report.error);
  return report;
}

type Event = Record<string, any>;
const find = (type: string, match: (e: Event) => boolean = () => true) => entries.find((e) => e.event.type === type && match(e.event as Event))!;
const allowedFor = (environment: string) => find('deployment.allowed', (e) => e.subject.environment === environment);

/** The bundle someone holding the app key would write after changing what the entries say. */
async function forged(change: (list: Pick<LedgerEntry, 'ledger' | 'at' | 'event'>[]) => void): Promise<EvidenceReport> {
  const list = structuredClone(entries).map(({ ledger, at, event }) => ({ ledger, at, event }));
  change(list);
  return verify(await resign(list, insider), [insider.signing.keyId]);
}

function expectProblem(report: EvidenceReport, seq: number, code: EvidenceProblemCode, text?: RegExp): void {
  expect(report.ok).toBe(false);
  const problem = report.problems.find((p) => p.seq === seq && p.code === code);
  expect(problem).toBeDefined();
  expect(problem!.message).toMatch(new RegExp(`Entry ${seq}\\b`));
  if (text) expect(problem!.message).toMatch(text);
}

const at = (seq: number) => seq - 1;

describe('deployments in an evidence bundle', () => {
  describe('a merge deployed to staging, then production', () => {
    it('verifies: decisions, both allowances re-run, the chain, and the reports', async () => {
      const report = await verify(lines, [appKeyId]);
      expect(report.problems).toEqual([]);
      expect(report).toMatchObject({ ok: true, findings: [], counts: { deploymentDecisions: 3, deployments: 2, deploymentReports: 4, flagged: 0 } });
      expect(report.deployments.filter((d) => d.type === 'deployment.allowed')).toEqual([
        { seq: allowedFor(STAGING).seq, type: 'deployment.allowed', environment: STAGING, commit: MERGE_COMMIT, reproduced: true, chain: 'not-required' },
        { seq: allowedFor(PRODUCTION).seq, type: 'deployment.allowed', environment: PRODUCTION, commit: MERGE_COMMIT, reproduced: true, chain: 'met' },
      ]);
      expect(report.deployments.filter((d) => d.type === 'deployment.reported').map((d) => d.type === 'deployment.reported' && [d.state, d.allowed, d.flagged])).toEqual([
        ['started', true, false],
        ['completed', true, false],
        ['started', true, false],
        ['completed', true, false],
      ]);
    });

    it('re-signed unchanged by another app key, it still verifies (so the tampering below is what fails)', async () => {
      expect((await forged(() => undefined)).ok).toBe(true);
    });
  });

  describe('keys used only for deployments', () => {
    it("are in the export's key roster, as keys of merge decisions are", () => {
      const header = JSON.parse(lines[0]!);
      const roster = JSON.parse(Buffer.from(header.keys.roster.payload, 'base64').toString());
      const carol = find('deployment.decision.accepted', (e) => e.signer === PEOPLE.carol).event as Event;
      expect(entries.some((e) => e.event.type === 'decision.accepted' && (e.event as Event).signer === PEOPLE.carol)).toBe(false);
      expect(roster.keys).toContainEqual(expect.objectContaining({ accountId: PEOPLE.carol, keyId: carol.keyId }));
    });

    it('fail KEY_UNKNOWN when their enrolment is neither in the ledger nor in the roster', async () => {
      const enrolment = find('key.enrolled', (e) => e.accountId === PEOPLE.carol).seq;
      const decision = find('deployment.decision.accepted', (e) => e.signer === PEOPLE.carol).seq;
      const report = await forged((list) => {
        list.splice(at(enrolment), 1);
      });
      expectProblem(report, decision - 1, 'KEY_UNKNOWN', /whose enrolment is neither in this ledger nor named by the key roster/);
    });
  });

  describe('tampering', () => {
    it('a deployment decision envelope changed: the approver signature fails', async () => {
      const seq = find('deployment.decision.accepted', (e) => e.signer === PEOPLE.alice).seq;
      const report = await forged((list) => {
        const envelope = (list[at(seq)]!.event as Event).envelope;
        const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString());
        statement.predicate.environment = STAGING;
        envelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
      });
      expectProblem(report, seq, 'APPROVER_SIGNATURE');
    });

    it('an allowance counting an approval that does not exist', async () => {
      const seq = allowedFor(PRODUCTION).seq;
      const report = await forged((list) => {
        (list[at(seq)]!.event as Event).verdict.counted[0].entry = 999;
      });
      expectProblem(report, seq, 'DEPLOY_COUNTED', /not an earlier accepted decision in force/);
    });

    it('an allowance counting an approval of another deployment (staging for production)', async () => {
      const seq = allowedFor(PRODUCTION).seq;
      const carol = find('deployment.decision.accepted', (e) => e.signer === PEOPLE.carol);
      const report = await forged((list) => {
        const counted = (list[at(seq)]!.event as Event).verdict.counted;
        counted[1] = { signer: PEOPLE.carol, keyId: (carol.event as Event).keyId, decision: 'approve', seq: 1, entry: carol.seq };
      });
      expectProblem(report, seq, 'DEPLOY_COUNTED');
    });

    it('an allowance for another commit than the one approved: the re-run says no', async () => {
      const seq = allowedFor(STAGING).seq;
      const other = commitHash('never approved');
      const report = await forged((list) => {
        const event = list[at(seq)]!.event as Event;
        event.subject.commit = other;
        event.verdict.facts.commit = other;
        // Staging does not ask for a merge; without one named, only the approvals are in question.
        delete event.verdict.facts.merge;
      });
      expectProblem(report, seq, 'DEPLOY_VERDICT', /Ops: 0 of 1/);
    });

    it('an approval by a key revoked before the allowance does not count', async () => {
      const seq = allowedFor(PRODUCTION).seq;
      const bob = find('deployment.decision.accepted', (e) => e.signer === PEOPLE.bob).event as Event;
      const report = await forged((list) => {
        list.splice(at(seq), 0, { ledger: list[0]!.ledger, at: list[at(seq)]!.at, event: { type: 'key.revoked', accountId: PEOPLE.bob, keyId: bob.keyId, revokedBy: PEOPLE.admin, scope: 'repository' } as LedgerEntry['event'] });
      });
      expectProblem(report, seq + 1, 'DEPLOY_VERDICT', /Release managers: 1 of 2/);
    });

    it("the commit's author approving, when the environment leaves them out", async () => {
      const seq = allowedFor(PRODUCTION).seq;
      const report = await forged((list) => {
        (list[at(seq)]!.event as Event).verdict.facts.commitAuthor = PEOPLE.alice;
      });
      expectProblem(report, seq, 'DEPLOY_VERDICT', /Release managers: 1 of 2/);
    });

    it('the merge -> deploy chain broken: the merge wrote another commit', async () => {
      const merge = find('merge.recorded');
      const seq = allowedFor(PRODUCTION).seq;
      const report = await forged((list) => {
        (list[at(merge.seq)]!.event as Event).mergeCommit = commitHash('some other merge');
      });
      expectProblem(report, seq, 'DEPLOY_CHAIN', /no earlier merge in this ledger wrote that commit/);
    });

    it('the merge -> deploy chain broken: the allowance names another ledger entry for the merge', async () => {
      const merge = find('merge.recorded');
      const seq = allowedFor(PRODUCTION).seq;
      expect((allowedFor(PRODUCTION).event as Event).verdict.facts.merge.entry).toBe(merge.seq);
      const report = await forged((list) => {
        (list[at(seq)]!.event as Event).verdict.facts.merge.entry = merge.seq + 1;
      });
      expectProblem(report, seq, 'DEPLOY_CHAIN', new RegExp(`\\(entry ${merge.seq + 1}\\), but the merge that stands for`));
    });

    it('the merge -> deploy chain broken: the allowance records another target branch for the merge', async () => {
      const seq = allowedFor(PRODUCTION).seq;
      const report = await forged((list) => {
        (list[at(seq)]!.event as Event).verdict.facts.merge.targetBranch = 'release/1';
      });
      expectProblem(report, seq, 'DEPLOY_CHAIN', /target branch, authors or merger/);
    });

    it('a later bypassed merge writing the same commit does not displace the passing one (as in the store)', async () => {
      const merge = find('merge.recorded');
      const report = await forged((list) => {
        const bypass = structuredClone(list[at(merge.seq)]!);
        const event = bypass.event as Event;
        event.type = 'merge.bypassed';
        event.bypassed = true;
        event.verdict.pass = false;
        event.subject.pullRequest = 2;
        event.counted = [];
        list.splice(at(merge.seq) + 1, 0, bypass);
        // Every later entry moved one on: the allowances' counted decisions with them.
        for (const e of list) if (e.event.type === 'deployment.allowed') for (const c of (e.event as Event).verdict.counted) c.entry += 1;
      });
      expect(report.problems).toEqual([]);
      expect(report.deployments.filter((d) => d.type === 'deployment.allowed').map((d) => d.type === 'deployment.allowed' && d.chain)).toEqual(['not-required', 'met']);
    });

    it('the merge -> deploy chain broken: the merge was a bypass', async () => {
      const merge = find('merge.recorded');
      const seq = allowedFor(PRODUCTION).seq;
      const report = await forged((list) => {
        const event = list[at(merge.seq)]!.event as Event;
        // Leave its quorum's approvals out, so the record is a consistent bypass.
        event.type = 'merge.bypassed';
        event.bypassed = true;
        event.verdict.pass = false;
        event.counted = [];
        for (const e of list) if (e.event.type === 'decision.accepted') (e.event as Event).type = 'decision.ignored';
      });
      expect(report.problems.some((p) => p.seq === merge.seq)).toBe(false);
      expectProblem(report, seq, 'DEPLOY_CHAIN');
    });

    it('a report claiming the gate allowed what it never did', async () => {
      const seq = allowedFor(STAGING).seq;
      const report = await forged((list) => {
        (list[at(seq)]!.event as Event).type = 'deployment.unknown';
      });
      const reported = find('deployment.reported', (e) => e.subject.environment === STAGING && e.state === 'started').seq;
      expectProblem(report, reported, 'DEPLOY_REPORT');
    });

    it("a report of another pipeline claiming the gate's yes given to one pipeline only", async () => {
      const seq = find('deployment.reported', (e) => e.subject.environment === PRODUCTION && e.state === 'completed').seq;
      const report = await forged((list) => {
        (list[at(seq)]!.event as Event).pipeline = '{12121212-1212-4212-8212-121212121212}';
      });
      expectProblem(report, seq, 'DEPLOY_REPORT', /no earlier deployment.allowed entry .*pipeline \{12121212/);
    });

    it('a flagged report of another pipeline after an allowance for one pipeline only is a finding, not a contradiction', async () => {
      const seq = find('deployment.reported', (e) => e.subject.environment === PRODUCTION && e.state === 'completed').seq;
      const report = await forged((list) => {
        Object.assign(list[at(seq)]!.event as Event, { pipeline: '{12121212-1212-4212-8212-121212121212}', allowed: false, flagged: true });
      });
      expect(report.problems).toEqual([]);
      expect(report.findings).toEqual([expect.objectContaining({ seq, code: 'DEPLOYMENT_FLAGGED' })]);
    });

    it('a completed deployment without the yes, not flagged, is caught', async () => {
      const seq = find('deployment.reported', (e) => e.subject.environment === PRODUCTION && e.state === 'completed').seq;
      const allowed = allowedFor(PRODUCTION).seq;
      const report = await forged((list) => {
        (list[at(allowed)]!.event as Event).type = 'deployment.unknown';
        (list[at(seq)]!.event as Event).allowed = false;
      });
      expectProblem(report, seq, 'DEPLOY_REPORT', /not flagged/);
    });
  });

  describe('a deployment that ran without the gate allowing it', () => {
    it('is a finding naming the entry: the report is not ok, though nothing is tampered with', async () => {
      const run = await deploymentRun({ unapproved: true });
      const report = await verify(run.lines);
      run.world.dispose();
      const flagged = entriesOf(run.lines).filter((e) => (e.event as Event).flagged);
      expect(flagged).toHaveLength(1);
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(false);
      expect(report.counts.flagged).toBe(1);
      expect(report.findings).toEqual([
        { seq: flagged[0]!.seq, line: flagged[0]!.seq + 1, code: 'DEPLOYMENT_FLAGGED', message: expect.stringMatching(new RegExp(`^Entry ${flagged[0]!.seq} .*deployed to Production \\(SUCCESSFUL\\) without Countersign's approval`)) },
      ]);
      expect(report.head).toBeDefined();
    });
  });
});
