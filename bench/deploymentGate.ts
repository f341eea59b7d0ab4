import { commitHash, PEOPLE, World } from '../test/fixtures/world';
import { anEnvironment, approvers, callGate, PRODUCTION, saveEnvironments, seedDeploymentDecision, seedEnvironments, stepToken } from '../test/fixtures/deployments';

type Budget = (label: string, ok: boolean, detail?: string) => void;

const LATENCY = { kvs: 30, bitbucket: 150 };

/**
 * The deployment gate's cost per call, with KVS at 30 ms and Bitbucket at 150 ms a round trip: the
 * first call (the workspace's OIDC keys fetched, the request opened), a call while signatures are
 * still missing (nothing written), and the call that is allowed (its allowance written). Its reads
 * are one round: the pipeline, the commit's author and the environment from Bitbucket beside one KVS
 * batch, and the ref the pipeline names read once the pipeline has named it, so a waiting call should
 * cost about two Bitbucket round trips.
 */
export async function deploymentGateFigures(budget: Budget): Promise<void> {
  const world = new World();
  try {
    seedEnvironments(world);
    const release = commitHash('bench-release');
    world.host.bitbucket.seedCommit(world.repo, { hash: release, author: PEOPLE.author, message: 'Release' });
    world.host.bitbucket.addTag(world.repo, 'v9.0.0', release);
    const pipeline = world.host.bitbucket.seedPipeline(world.repo, { commit: release, ref: { type: 'tag', name: 'v9.0.0' }, creator: PEOPLE.dave });
    const policy = await saveEnvironments(world, [anEnvironment()]);
    const call = async () => {
      const token = await stepToken(world, pipeline);
      world.host.latency = LATENCY;
      world.host.resetCalls();
      const started = performance.now();
      const answer = await callGate(world, { token, body: { commit: release } });
      const ms = performance.now() - started;
      world.host.latency = {};
      const kvs = world.host.calls.kvs;
      return { status: answer.status, ms, bitbucket: world.host.calls.bitbucket.length, batches: kvs.filter((c) => c.endsWith('/batch/get')).length, writes: kvs.filter((c) => c.endsWith('/transaction')).length, kvs: kvs.length };
    };
    const first = await call();
    const waiting: Awaited<ReturnType<typeof call>>[] = [];
    for (let i = 0; i < 5; i++) waiting.push(await call());
    for (const signer of await approvers(PEOPLE.alice, PEOPLE.bob)) await seedDeploymentDecision(world, signer, { environment: PRODUCTION, commit: release, policy: policy.hash });
    const allowed = await call();
    const median = [...waiting].sort((a, b) => a.ms - b.ms)[2]!;

    console.log(`\nDeployment gate, KVS ${LATENCY.kvs} ms and Bitbucket ${LATENCY.bitbucket} ms a round trip; critical path as a ratio to one Bitbucket round trip`);
    console.log('call                          status     ms  ratio  Bitbucket calls  KVS batches  KVS transactions  KVS calls');
    for (const [label, r] of [['first (keys read, request opened)', first], ['waiting (median of 5)', median], ['allowed (allowance written)', allowed]] as const) {
      console.log(`${label.padEnd(33)} ${String(r.status).padStart(3)}  ${r.ms.toFixed(0).padStart(5)}  ${(r.ms / LATENCY.bitbucket).toFixed(2).padStart(5)}  ${String(r.bitbucket).padStart(15)}  ${String(r.batches).padStart(11)}  ${String(r.writes).padStart(16)}  ${String(r.kvs).padStart(9)}`);
    }
    budget('deployment gate: a waiting call reads in one round and the ref after the pipeline (<= 2.25x one Bitbucket round trip, 4 Bitbucket reads, 1 KVS batch, no write)', median.status === 403 && median.ms <= 2.25 * LATENCY.bitbucket && median.bitbucket === 4 && median.batches === 1 && median.writes === 0, `${(median.ms / LATENCY.bitbucket).toFixed(2)}x, ${median.bitbucket} Bitbucket, ${median.batches} batch, ${median.writes} writes`);
    budget('deployment gate: the allowed call writes its allowance once (200, 1 KVS transaction)', allowed.status === 200 && allowed.writes === 1, `${allowed.status}, ${allowed.writes} transactions`);
  } finally {
    world.dispose();
  }
}
