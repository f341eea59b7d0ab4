import { BitbucketReadError, memberOf, memberPath, readJson, type BitbucketFetch, type Member, type Membership } from './bitbucketReads';

/** What is known of a person's name: found, not (or no longer) a member of the workspace, or not readable just now. */
export type NameEntry = { kind: 'member'; name: string } | { kind: 'not-member' } | { kind: 'failed'; message: string };

/** How many lookups run at once: enough to fill a page quickly without a burst Bitbucket would throttle. */
const CONCURRENCY = 6;

/**
 * Display names for the specific account ids the page shows (group members, key owners, who saved or
 * revoked), each looked up once as the viewer with `GET /2.0/workspaces/{workspace}/members/{id}`, so a
 * name never depends on which pages of a 5,000-member list happen to be loaded. Names learnt from
 * member pages are taken as they come and never looked up again.
 */
export class NameBook {
  private readonly entries = new Map<string, NameEntry>();
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private running = 0;
  private readonly listeners = new Set<() => void>();
  /** Changes whenever an entry does, so a view can tell it must redraw. */
  version = 0;

  constructor(
    private readonly fetch: BitbucketFetch,
    private readonly workspace: string,
  ) {}

  get(accountId: string): NameEntry | undefined {
    return this.entries.get(accountId);
  }

  /** The name to show for an account: its display name, or a description that says why there is none. */
  label(accountId: string): string {
    const entry = this.entries.get(accountId);
    if (entry?.kind === 'member') return entry.name;
    if (entry?.kind === 'not-member') return `Former member (${shortId(accountId)})`;
    if (entry?.kind === 'failed') return `Unknown person (${shortId(accountId)})`;
    return `Loading name… (${shortId(accountId)})`;
  }

  /** Names from a page of members, kept without a lookup of their own. */
  learn(members: Member[]): void {
    let changed = false;
    for (const m of members) {
      if (this.entries.get(m.accountId)?.kind === 'member') continue;
      this.entries.set(m.accountId, { kind: 'member', name: m.name });
      changed = true;
    }
    if (changed) this.changed();
  }

  /** Looks up every id not known yet; each id is asked for once, a failed one again on the next call. */
  need(accountIds: Iterable<string>): void {
    for (const id of accountIds) {
      const entry = this.entries.get(id);
      if ((entry && entry.kind !== 'failed') || this.queued.has(id)) continue;
      this.queued.add(id);
      this.queue.push(id);
    }
    this.pump();
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once no lookup is queued or running (for tests). */
  async settled(): Promise<void> {
    while (this.running > 0 || this.queue.length > 0) await new Promise((r) => setTimeout(r, 1));
  }

  private pump(): void {
    while (this.running < CONCURRENCY && this.queue.length > 0) {
      const id = this.queue.shift()!;
      this.running++;
      void this.lookUp(id).finally(() => {
        this.running--;
        this.queued.delete(id);
        this.pump();
      });
    }
  }

  private async lookUp(accountId: string): Promise<void> {
    let entry: NameEntry;
    try {
      const member = memberOf(await readJson<Membership>(this.fetch, memberPath(this.workspace, accountId), 'looking up a member'));
      entry = member ? { kind: 'member', name: member.name } : { kind: 'not-member' };
    } catch (error) {
      // Bitbucket answers 404 for "not a member of the workspace", which is an answer, not a failure.
      entry = error instanceof BitbucketReadError && error.status === 404 ? { kind: 'not-member' } : { kind: 'failed', message: (error as Error).message };
    }
    if (this.entries.get(accountId)?.kind !== 'member' || entry.kind === 'member') this.entries.set(accountId, entry);
    this.changed();
  }

  private changed(): void {
    this.version++;
    for (const listener of this.listeners) listener();
  }
}

function shortId(accountId: string): string {
  return accountId.length > 14 ? `${accountId.slice(0, 12)}…` : accountId;
}
