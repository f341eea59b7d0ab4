import { requestBitbucket } from '@forge/bridge';
import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import type { BitbucketFetch } from './bitbucketReads';
import { BranchChecker } from './branches';
import { MemberDirectory } from './directory';
import { NameBook } from './names';

/** What the settings page reads from Bitbucket, as the viewer, shared by every part of the page. */
export interface Services {
  directory: MemberDirectory;
  names: NameBook;
  branches: BranchChecker;
}

const ServicesContext = createContext<Services | undefined>(undefined);

const viaBridge: BitbucketFetch = (path) => requestBitbucket(path);

export function ServicesProvider({ workspace, repository, children, fetch = viaBridge }: { workspace: string; repository: string; children: ReactNode; fetch?: BitbucketFetch }) {
  const services = useMemo(() => {
    const names = new NameBook(fetch, workspace);
    return { names, directory: new MemberDirectory(fetch, workspace, (page) => names.learn(page)), branches: new BranchChecker(fetch, workspace, repository) };
  }, [fetch, workspace, repository]);
  return <ServicesContext.Provider value={services}>{children}</ServicesContext.Provider>;
}

export function useServices(): Services {
  const services = useContext(ServicesContext);
  if (!services) throw new Error('useServices outside ServicesProvider');
  return services;
}

/**
 * Display names of `ids` (looked up as needed), redrawn as lookups answer. `label(id)` is the name, or a
 * words-only description while it loads or when the person has left the workspace.
 */
export function useNames(ids: readonly string[]): { label: (id: string) => string; isFormer: (id: string) => boolean } {
  const { names } = useServices();
  const [, setVersion] = useState(names.version);
  const key = [...new Set(ids)].sort().join(' ');
  useEffect(() => names.subscribe(() => setVersion(names.version)), [names]);
  useEffect(() => {
    if (key) names.need(key.split(' '));
  }, [names, key]);
  return { label: (id) => names.label(id), isFormer: (id) => names.get(id)?.kind === 'not-member' };
}
