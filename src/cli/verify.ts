import { createReadStream } from 'node:fs';
import { EvidenceVerifier, type EvidenceReport } from '../core/evidence';
import { LineSplitter } from './lines';
import { nodeCryptoSuite } from './nodeCrypto';

/**
 * `countersign verify <bundle> [--json] [--app-key <key id>]…`: checks an evidence bundle offline and
 * says what holds. Exit 0 when everything holds, 1 when a problem was found, 2 when the input cannot be
 * read as a bundle (or the command line is wrong), 3 when the bundle is genuine but records a control that
 * failed (a deployment flagged as run without Countersign's approval). The bundle is streamed: memory
 * does not grow with it.
 */
export const USAGE = `Usage: countersign verify <bundle.jsonl | -> [--json] [--app-key <key id>]...

Checks a Countersign evidence bundle: the ledger's chain and app signatures, every approver's
signature and key, each decision against the policy version in force, every merge's quorum, and
every deployment the gate allowed (re-run, with the merge -> deploy chain).
  --json             print the report as JSON (for machines)
  --app-key <id>     the app key id you trust (from the app's getLedgerKey); may be repeated
Exit status: 0 everything holds, 1 problems found, 2 the input could not be read,
3 the bundle holds but records deployments made without Countersign's approval.`;

export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  stdin: NodeJS.ReadableStream;
}

interface Args {
  file: string;
  json: boolean;
  appKeys: string[];
}

function parseArgs(argv: string[]): Args | string {
  const [command, ...rest] = argv;
  if (command !== 'verify') return command === undefined || command === '--help' || command === '-h' ? '' : `Unknown command ${JSON.stringify(command)}.`;
  let file: string | undefined;
  let json = false;
  const appKeys: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === '--json') json = true;
    else if (arg === '--app-key') {
      const value = rest[++i];
      if (!value) return '--app-key needs a key id.';
      appKeys.push(value);
    } else if (arg.startsWith('--')) return `Unknown option ${arg}.`;
    else if (file === undefined) file = arg;
    else return 'Give one bundle.';
  }
  if (file === undefined) return 'Give the bundle to verify (a path, or - for standard input).';
  return { file, json, appKeys };
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    io.stderr.write(`${args ? `countersign: ${args}\n\n` : ''}${USAGE}\n`);
    return args ? 2 : 0;
  }
  const input = args.file === '-' ? io.stdin : createReadStream(args.file);
  const bar = !args.json && io.stdout.isTTY ? new ProgressBar(io.stdout) : undefined;
  const options = { ...(args.appKeys.length ? { trustedAppKeyIds: args.appKeys } : {}), onProgress: (n: number) => bar?.update(n), suite: nodeCryptoSuite() };
  let verifier: EvidenceVerifier | undefined;
  let refused: string | undefined;
  const take = async (lines: string[]): Promise<void> => {
    for (const line of lines) {
      if (verifier) {
        await verifier.add(line);
        continue;
      }
      const opened = await EvidenceVerifier.open(line, options);
      if (!(opened instanceof EvidenceVerifier)) {
        refused = opened.error;
        return;
      }
      verifier = opened;
      bar?.start(verifier.expectedEntries);
    }
  };
  try {
    const splitter = new LineSplitter();
    for await (const chunk of input as AsyncIterable<Buffer | string>) {
      await take(splitter.write(chunk));
      if (refused !== undefined) return unreadable(io, args, refused);
    }
    await take(splitter.end());
    if (refused !== undefined) return unreadable(io, args, refused);
  } catch (error) {
    bar?.clear();
    return unreadable(io, args, `Could not read ${args.file}: ${(error as Error).message}`);
  }
  if (!verifier) return unreadable(io, args, 'The bundle is empty; an evidence bundle starts with its header line.');
  const report = await verifier.finish();
  bar?.clear();
  io.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : describe(report, args.file));
  return exitCode(report);
}

/** Problems (the evidence does not hold) outrank findings (it holds, and shows a control that failed). */
export function exitCode(report: EvidenceReport): number {
  if (report.problems.length || report.moreProblems) return 1;
  return report.findings.length || report.counts.flagged ? 3 : 0;
}

function unreadable(io: CliIo, args: Args, error: string): number {
  if (args.json) io.stdout.write(`${JSON.stringify({ ok: false, error: { code: 'UNREADABLE', message: error } }, null, 2)}\n`);
  else io.stderr.write(`countersign: ${error}\n`);
  return 2;
}

/** The report in words. */
export function describe(report: EvidenceReport, file: string): string {
  const out: string[] = [];
  const c = report.counts;
  const intact = report.problems.length === 0 && report.moreProblems === 0;
  out.push(`${report.ok ? 'VERIFIED' : intact ? 'FLAGGED' : 'FAILED'}  ${file}`);
  out.push(`  ledger ${report.ledger}, app key ${report.appKeys.join(', ')}`);
  out.push(`  ${report.entries} entries: ${c.decisions} decisions, ${c.keys} key enrolments, ${c.revocations} revocations, ${c.policies} policy versions, ${c.merges} merges (${c.bypassed} bypassed), ${c.autoMerges} auto-merges`);
  if (c.deploymentDecisions || c.deployments || c.deploymentReports) {
    out.push(`  deployments: ${c.deploymentDecisions} decisions, ${c.deployments} allowed by the gate, ${c.deploymentReports} reports from Bitbucket (${c.flagged} flagged)`);
  }
  if (report.head) out.push(`  head: seq ${report.head.seq}, ${report.head.hash} (compare it with the head the app shows: a cut tail is otherwise a shorter, valid ledger)`);
  for (const m of report.merges) {
    out.push(`  merge  #${m.pullRequest} at ${m.commit.slice(0, 7)} (entry ${m.seq}, ${m.type}): quorum ${m.pass ? 'met' : 'not met'}, ${m.reproduced ? 're-run agrees' : 're-run disagrees'}`);
  }
  for (const d of report.deployments) {
    if (d.type === 'deployment.allowed') {
      const chain = d.chain === 'met' ? ', merge -> deploy chain holds' : d.chain === 'broken' ? ', merge -> deploy chain broken' : '';
      out.push(`  deploy ${d.commit.slice(0, 7)} to ${d.environment} (entry ${d.seq}, allowed): ${d.reproduced ? 're-run agrees' : 're-run disagrees'}${chain}`);
    } else {
      out.push(`  deploy ${d.commit.slice(0, 7)} to ${d.environment} (entry ${d.seq}, ${d.state}${d.outcome ? ` ${d.outcome}` : ''}): ${d.flagged ? 'FLAGGED, ran without approval' : d.allowed ? 'allowed' : 'not allowed'}`);
    }
  }
  if (report.findings.length) {
    out.push('', `Findings (${c.flagged}): the evidence holds, and shows controls that failed:`);
    for (const f of report.findings) out.push(`  entry ${f.seq} (line ${f.line})  ${f.code}  ${f.message}`);
  }
  if (report.problems.length) {
    out.push('', `Problems (${report.problems.length + report.moreProblems}):`);
    for (const p of report.problems) out.push(`  ${p.seq !== undefined ? `entry ${p.seq}` : 'bundle'}${p.line ? ` (line ${p.line})` : ''}  ${p.code}  ${p.message}`);
    if (report.moreProblems) out.push(`  … and ${report.moreProblems} more (use --json for the listed ones)`);
  }
  if (report.notices.length) {
    out.push('', 'Notes:');
    for (const n of report.notices) out.push(`  ${n.seq !== undefined ? `entry ${n.seq}` : 'bundle'}  ${n.code}  ${n.message}`);
  }
  return `${out.join('\n')}\n`;
}

/** A one-line bar, redrawn at most 10 times a second; only ever drawn on a terminal. */
class ProgressBar {
  private total = 0;
  private drawnAt = 0;
  constructor(private readonly out: { write(text: string): unknown }) {}
  start(total: number): void {
    this.total = total;
  }
  update(done: number): void {
    const now = performance.now();
    if (now - this.drawnAt < 100 && done !== this.total) return;
    this.drawnAt = now;
    const width = 30;
    const share = this.total ? Math.min(1, done / this.total) : 1;
    const filled = Math.round(share * width);
    this.out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total} entries`);
  }
  clear(): void {
    if (this.drawnAt) this.out.write('\r\x1b[2K');
  }
}

if (require.main === module) {
  main(process.argv.slice(2), process).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`countersign: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(2);
    },
  );
}
