import { Queue, TooManyEventsError } from '@forge/events';
import { ForgeHost } from '../../dev/forgeHost';
import { manifestEntities } from '../../dev/manifestEntities';

/** The real `@forge/events` client, over the host's `__forge_fetch__`, reaches the fake queue as it reaches Forge. */
describe('FakeQueue behind ForgeHost', () => {
  const host = ForgeHost.create(manifestEntities());
  beforeAll(() => host.install());
  afterAll(() => host.uninstall());

  it('takes a push from the real client and delivers each event as a consumer receives it', async () => {
    const seen: unknown[] = [];
    host.queue.consumer('countersign-reevaluate', async (event) => seen.push(event));
    const { jobId } = await new Queue({ key: 'countersign-reevaluate' }).push([{ body: { n: 1 } }, { body: { n: 2 } }]);
    expect(host.calls.queue).toEqual([expect.stringMatching(/^\/webhook\/queue\/publish\//)]);
    expect(await host.queue.drain()).toMatchObject({ delivered: 2 });
    expect(seen).toEqual([
      { queueName: 'countersign-reevaluate', jobId, eventId: expect.any(String), body: { n: 1 } },
      { queueName: 'countersign-reevaluate', jobId, eventId: expect.any(String), body: { n: 2 } },
    ]);
  });

  it('refuses more than 50 events a push, as the client and the platform do', async () => {
    const events = Array.from({ length: 51 }, (_, n) => ({ body: { n } }));
    await expect(new Queue({ key: 'countersign-reevaluate' }).push(events)).rejects.toBeInstanceOf(TooManyEventsError);
    expect(host.queue.handle('/webhook/queue/publish/x/y/z/1', { queueName: 'q', jobId: 'j', payload: events })).toMatchObject({ status: 400 });
  });
});
