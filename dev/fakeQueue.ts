/**
 * An in-memory stand-in for Forge's async events, answering the HTTP call `@forge/events` makes
 * (`POST /webhook/queue/publish/{contextAri}/{environmentId}/{appId}/{appVersion}`, reached through
 * `__forge_fetch__` as the app) with the platform's limits: at most 50 events a push, 200 KB a push,
 * `delayInSeconds` 0–900. 201 on success. Pushed events wait until `drain()` delivers each, in push
 * order, to the consumer registered for its queue as an `AsyncEvent` (`body`, `queueName`, `jobId`,
 * `eventId`), as a consumer function receives it; events pushed by a consumer are delivered in the same drain.
 */
export interface QueuedEvent {
  queueName: string;
  jobId: string;
  eventId: string;
  body: Record<string, unknown>;
  delayInSeconds?: number;
}

export type Consumer = (event: QueuedEvent) => Promise<unknown>;

const MAX_EVENTS = 50;
const MAX_PAYLOAD_BYTES = 200 * 1024;

export class FakeQueue {
  readonly pending: QueuedEvent[] = [];
  /** Every event ever pushed, for tests and the bench to count. */
  readonly pushed: QueuedEvent[] = [];
  private readonly consumers = new Map<string, Consumer>();
  private seq = 0;

  consumer(queueName: string, fn: Consumer): void {
    this.consumers.set(queueName, fn);
  }

  consumerFor(queueName: string): Consumer {
    const consumer = this.consumers.get(queueName);
    if (!consumer) throw new Error(`FakeQueue has no consumer for queue ${queueName}`);
    return consumer;
  }

  handle(path: string, body: any): { status: number; json: unknown } {
    if (!path.startsWith('/webhook/queue/publish/')) return { status: 404, json: { message: `No such queue API: ${path}` } };
    if (typeof body?.queueName !== 'string' || !/^[a-zA-Z0-9-_]+$/.test(body.queueName)) return { status: 400, json: { message: 'Invalid queue name' } };
    const events = body.payload;
    if (!Array.isArray(events) || events.length === 0) return { status: 400, json: { message: 'No events pushed' } };
    if (events.length > MAX_EVENTS) return { status: 400, json: { message: `At most ${MAX_EVENTS} events per push` } };
    if (Buffer.byteLength(JSON.stringify(events)) > MAX_PAYLOAD_BYTES) return { status: 413, json: { errorMessage: 'Payload too big' } };
    for (const event of events) {
      if (event.delayInSeconds !== undefined && (event.delayInSeconds < 0 || event.delayInSeconds > 900)) return { status: 400, json: { message: 'Invalid delay' } };
      const queued: QueuedEvent = { queueName: body.queueName, jobId: body.jobId, eventId: `event-${++this.seq}`, body: event.body, ...(event.delayInSeconds ? { delayInSeconds: event.delayInSeconds } : {}) };
      this.pending.push(queued);
      this.pushed.push(queued);
    }
    return { status: 201, json: {} };
  }

  /** Delivers pending events until none are left; a consumer's failure is returned, not thrown, as the platform would retry it. */
  async drain(): Promise<{ delivered: number; results: unknown[] }> {
    const results: unknown[] = [];
    let delivered = 0;
    for (let event = this.pending.shift(); event; event = this.pending.shift()) {
      const consumer = this.consumerFor(event.queueName);
      results.push(await consumer(event).catch((error: unknown) => ({ thrown: String(error) })));
      delivered++;
    }
    return { delivered, results };
  }
}
