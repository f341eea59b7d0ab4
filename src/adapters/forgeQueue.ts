import { Queue } from '@forge/events';
import { RequestError } from '../core';
import type { ReevaluationQueue, ReevaluationRequest } from '../ports';

/** The queue `manifest.yml` declares a consumer for. */
export const REEVALUATION_QUEUE = 'countersign-reevaluate';
/** `@forge/events` accepts at most 50 events in one push. */
const PUSH_LIMIT = 50;

/** Re-evaluations through Forge's async events: each pushed request is one consumer invocation with its own time budget. */
export class ForgeQueue implements ReevaluationQueue {
  private readonly queue = new Queue({ key: REEVALUATION_QUEUE });

  async enqueue(requests: ReevaluationRequest[]): Promise<void> {
    for (let i = 0; i < requests.length; i += PUSH_LIMIT) {
      const events = requests.slice(i, i + PUSH_LIMIT).map((body) => ({ body: body as unknown as Record<string, unknown> }));
      try {
        await this.queue.push(events);
      } catch (cause) {
        throw new RequestError('INTERNAL', 'Countersign could not queue the re-evaluation of open pull requests; save again or ask an admin to retry.', { cause });
      }
    }
  }
}
