import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

const SCRIPT = join(__dirname, '..', '..', 'scripts', 'pipelines', 'countersign-gate.sh');
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzdGVwIn0.c2lnbmF0dXJlLW9mLXRoZS1zdGVw';
const COMMIT = '872a3061f2c4b5d6e7f8091a2b3c4d5e6f708192';

interface Answer {
  status: number;
  body: unknown;
}

interface Seen {
  method: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
}

/** A gate on loopback that gives `answers` in turn (the last one again once they run out); a string body is sent as it is. */
async function gate(answers: Answer[]): Promise<{ url: string; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', authorization: req.headers.authorization, contentType: req.headers['content-type'], body });
      const answer = answers[Math.min(seen.length - 1, answers.length - 1)]!;
      res.writeHead(answer.status, { 'Content-Type': 'application/json' });
      res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/x1/gate`, seen, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

interface Run {
  code: number | null;
  output: string;
}

/** Runs the real script with POSIX `sh`, as a Pipelines step would (asynchronously: the gate is in this process). */
function run(args: string[], env: Record<string, string | undefined>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', [SCRIPT, ...args], {
      env: { PATH: process.env.PATH, BITBUCKET_STEP_OIDC_TOKEN: TOKEN, BITBUCKET_COMMIT: COMMIT, ...env },
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

const allowed = { status: 200, body: { allowed: true, message: 'Production: 2 of 2 Release managers signed (Riley Park, Sam Ortiz).', approvedBy: [{ accountId: 'a1', name: 'Riley Park' }], request: 'req-1' } };
const refused = { status: 403, body: { allowed: false, code: 'APPROVALS_MISSING', message: 'Production: 1 of 2 Release managers signed (Riley Park).', missing: ['Release managers'], request: 'req-2' } };

describe('countersign-gate.sh', () => {
  describe.each([
    ['the gate allows the deployment', [allowed], 0, 'allowed: Production: 2 of 2 Release managers signed (Riley Park, Sam Ortiz).'],
    ['the gate refuses it', [refused], 1, 'refused: Production: 1 of 2 Release managers signed (Riley Park).'],
    ['the gate does not accept the token', [{ status: 401, body: { allowed: false, code: 'NOT_AUTHENTICATED', message: 'The token is not for Countersign.' } }], 2, 'did not accept this step\'s token: The token is not for Countersign.'],
    ['the gate fails', [{ status: 500, body: { message: 'Internal error' } }], 3, 'answered HTTP 500'],
    ['storage is down', [{ status: 503, body: { allowed: false, code: 'STORAGE_ERROR', message: 'Try again.' } }], 3, 'answered HTTP 503'],
  ])('when %s', (_, answers, exitCode, printed) => {
    let result: Run;
    let seen: Seen[];

    beforeAll(async () => {
      const server = await gate(answers as Answer[]);
      result = await run([], { COUNTERSIGN_GATE_URL: server.url });
      seen = server.seen;
      await server.close();
    });

    it(`exits ${exitCode}`, () => expect(result.code).toBe(exitCode));
    it("prints the gate's message", () => expect(result.output).toContain(printed));
    it('asks once, with the bearer token and the commit as JSON', () => {
      expect(seen).toEqual([{ method: 'POST', authorization: `Bearer ${TOKEN}`, contentType: 'application/json', body: JSON.stringify({ commit: COMMIT }) }]);
    });
    it('never prints the token', () => expect(result.output).not.toContain(TOKEN));
  });

  describe('with --wait', () => {
    it('asks again on 403 until allowed, then exits 0', async () => {
      const server = await gate([refused, refused, allowed]);
      const result = await run(['--wait', '10', '--interval', '1'], { COUNTERSIGN_GATE_URL: server.url });
      await server.close();
      expect(result.code).toBe(0);
      expect(server.seen).toHaveLength(3);
      expect(result.output).toContain('not yet, asking again in 1s: Production: 1 of 2');
      expect(result.output).toContain('allowed: Production: 2 of 2');
      expect(result.output).not.toContain(TOKEN);
    });

    it('gives up with 1 when still refused after the wait', async () => {
      const server = await gate([refused]);
      const result = await run(['--wait', '2', '--interval', '1'], { COUNTERSIGN_GATE_URL: server.url });
      await server.close();
      expect(result.code).toBe(1);
      expect(server.seen).toHaveLength(3);
      expect(result.output).toContain('still refused after waiting 2s');
    });

    it('asks again on a rejection, which a new approval from the same person can withdraw', async () => {
      const rejected = { status: 403, body: { allowed: false, code: 'DEPLOYMENT_REJECTED', message: 'Production: Riley Park rejected this deployment.', missing: [], request: null } };
      const server = await gate([rejected, allowed]);
      const result = await run(['--wait', '10', '--interval', '1'], { COUNTERSIGN_GATE_URL: server.url });
      await server.close();
      expect(result.code).toBe(0);
      expect(server.seen).toHaveLength(2);
      expect(result.output).toContain('not yet, asking again in 1s: Production: Riley Park rejected');
    });

    it.each(['INVALID_INPUT', 'WRONG_COMMIT', 'REF_NOT_ALLOWED', 'MERGE_REQUIRED', 'NOT_A_DEPLOYMENT_STEP', 'NOT_FOUND', 'SOMETHING_NEW'])(
      'exits 1 at once on a %s refusal, which waiting cannot change',
      async (code) => {
        const final = { status: 403, body: { allowed: false, code, message: `Refused: ${code}.`, missing: [`Refused: ${code}.`], request: null } };
        const server = await gate([final, allowed]);
        const result = await run(['--wait', '30', '--interval', '1'], { COUNTERSIGN_GATE_URL: server.url });
        await server.close();
        expect(result.code).toBe(1);
        expect(server.seen).toHaveLength(1);
        expect(result.output).toContain(`refused: Refused: ${code}.`);
        expect(result.output).not.toContain('asking again');
      },
    );

    it('exits 1 at once on a 403 without a code it can read', async () => {
      const server = await gate([{ status: 403, body: { allowed: false, message: 'No code here.' } }, allowed]);
      const result = await run(['--wait', '30', '--interval', '1'], { COUNTERSIGN_GATE_URL: server.url });
      await server.close();
      expect(result.code).toBe(1);
      expect(server.seen).toHaveLength(1);
    });

    it('reads the code wherever it sits in the answer and however it is spaced', async () => {
      const spaced = { status: 403, body: '{ "message" : "Production: 1 of 2.",\n  "code" :  "APPROVALS_MISSING", "allowed": false }' };
      const server = await gate([spaced, allowed]);
      const result = await run(['--wait', '10', '--interval', '1'], { COUNTERSIGN_GATE_URL: server.url });
      await server.close();
      expect(result.code).toBe(0);
      expect(server.seen).toHaveLength(2);
    });

    it('does not wait on a 401 or a server error', async () => {
      const server = await gate([{ status: 401, body: { allowed: false, code: 'NOT_AUTHENTICATED', message: 'No.' } }]);
      const result = await run(['--wait', '30', '--interval', '1'], { COUNTERSIGN_GATE_URL: server.url });
      await server.close();
      expect(result.code).toBe(2);
      expect(server.seen).toHaveLength(1);
    });

    it('without --wait, a 403 is final', async () => {
      const server = await gate([refused, allowed]);
      const result = await run([], { COUNTERSIGN_GATE_URL: server.url });
      await server.close();
      expect(result.code).toBe(1);
      expect(server.seen).toHaveLength(1);
    });
  });

  describe('fails closed with 3', () => {
    it('when COUNTERSIGN_GATE_URL is missing', async () => {
      const result = await run([], {});
      expect(result.code).toBe(3);
      expect(result.output).toContain('COUNTERSIGN_GATE_URL is not set');
    });

    it('when the step has no OIDC token', async () => {
      const server = await gate([allowed]);
      const result = await run([], { COUNTERSIGN_GATE_URL: server.url, BITBUCKET_STEP_OIDC_TOKEN: undefined });
      await server.close();
      expect(result.code).toBe(3);
      expect(result.output).toContain('oidc');
      expect(server.seen).toHaveLength(0);
    });

    it.each([['short', '872a306'], ['not hex', 'z'.repeat(40)], ['missing', undefined]])('when the commit is %s', async (_, commit) => {
      const server = await gate([allowed]);
      const result = await run([], { COUNTERSIGN_GATE_URL: server.url, BITBUCKET_COMMIT: commit });
      await server.close();
      expect(result.code).toBe(3);
      expect(server.seen).toHaveLength(0);
    });

    it('when nothing answers at the URL', async () => {
      const server = await gate([allowed]);
      await server.close();
      const result = await run([], { COUNTERSIGN_GATE_URL: server.url });
      expect(result.code).toBe(3);
      expect(result.output).toContain('no answer from the gate');
      expect(result.output).not.toContain(TOKEN);
    });

    it('when an answer would echo the token, it is not printed', async () => {
      const server = await gate([{ status: 403, body: { allowed: false, code: 'X', message: `bad token ${TOKEN}` } }]);
      const result = await run([], { COUNTERSIGN_GATE_URL: server.url });
      await server.close();
      expect(result.code).toBe(1);
      expect(result.output).not.toContain(TOKEN);
    });

    it.each([[['--wait']], [['--wait', 'soon']], [['--interval', '0']], [['--bogus']]])('when the options are wrong (%j)', async (args) => {
      const result = await run(args, { COUNTERSIGN_GATE_URL: 'http://127.0.0.1:9/' });
      expect(result.code).toBe(3);
    });
  });
});
