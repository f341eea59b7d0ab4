import { createHash } from 'node:crypto';
import type { FakeBitbucket } from '../dev/fakeBitbucket';

/** The demo workspace a first start is seeded with: one repository, its people, its deployment environments (Staging, Production), and three open pull requests (into `main`, `docs` and `release/1`). */
export const DEMO = {
  workspace: { uuid: '{5d0c2a7e-8f3b-4c1d-9a6e-2b7f0e4c1a90}', slug: 'acme', name: 'Acme' },
  repository: { uuid: '{0f9e8d7c-6b5a-4e3d-8c2b-1a0f9e8d7c6b}', slug: 'payments' },
  environments: {
    staging: { uuid: '{6a1d3c5e-7f20-4b8a-9c4d-2e6f8a0b1c3d}', name: 'Staging', type: 'Staging' },
    production: { uuid: '{9b2e4d6f-8a31-4c9b-8d5e-3f7a9b1c2d4e}', name: 'Production', type: 'Production' },
  },
  people: {
    author: { accountId: '557058:a1c0-avery', displayName: 'Avery Chen' },
    riley: { accountId: '557058:b2d1-riley', displayName: 'Riley Park' },
    sam: { accountId: '557058:c3e2-sam', displayName: 'Sam Ortiz' },
    jordan: { accountId: '557058:d4f3-jordan', displayName: 'Jordan Lee' },
    admin: { accountId: '557058:e5a4-morgan', displayName: 'Morgan Admin' },
    reader: { accountId: '557058:f6b5-casey', displayName: 'Casey Reader' },
  },
} as const;

/**
 * The demo repository's `bitbucket-pipelines.yml`, as a team writes it without Countersign: the host's
 * Pipelines page shows it and what the dynamic pipelines provider makes of it.
 */
export const DEMO_PIPELINES_YML = `image: atlassian/default-image:4

definitions:
  steps:
    - step: &build
        name: Build and test
        script:
          - npm ci
          - npm test

pipelines:
  branches:
    main:
      - step: *build
      - step:
          name: Deploy to staging
          deployment: staging
          script:
            - ./deploy.sh staging
  tags:
    'v*':
      - step: *build
      - step:
          name: Deploy to production
          deployment: production
          trigger: manual
          script:
            - ./deploy.sh production
`;

export function demoCommit(seed: string): string {
  return createHash('sha1').update(seed).digest('hex');
}

function uuidOf(seed: string): string {
  return `{${createHash('md5').update(seed).digest('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5')}}`;
}

/** Which demo a first start seeds: the six people above, or those and 5,000 generated members (`COUNTERSIGN_DEMO=large`). */
export type DemoSize = 'standard' | 'large';

export const LARGE_DEMO_MEMBERS = 5000;

const FIRST_NAMES = ['Aaliyah', 'Abdul', 'Ada', 'Aiko', 'Alejandro', 'Amara', 'Anders', 'Ananya', 'Aryan', 'Beatriz', 'Bilal', 'Bongani', 'Carmen', 'Chen', 'Chiara', 'Dmitri', 'Elif', 'Emeka', 'Esther', 'Fatima', 'Felix', 'Freya', 'Gabriel', 'Hana', 'Hiroshi', 'Ibrahim', 'Ines', 'Isabel', 'Jamal', 'Javier', 'Jin', 'Johanna', 'Kai', 'Kamala', 'Kofi', 'Lars', 'Leila', 'Liam', 'Lucia', 'Mateo', 'Maya', 'Mei', 'Mohammed', 'Nadia', 'Nikhil', 'Noah', 'Olga', 'Omar', 'Priya', 'Rafael', 'Rania', 'Rohan', 'Sakura', 'Santiago', 'Sara', 'Sven', 'Tariq', 'Thandiwe', 'Tomás', 'Valentina', 'Wei', 'Yara', 'Yusuf', 'Zanele', 'Zoe'];
const LAST_NAMES = ['Abara', 'Adeyemi', 'Alvarez', 'Andersson', 'Bakker', 'Banerjee', 'Becker', 'Bianchi', 'Castillo', 'Chowdhury', 'Costa', 'Dubois', 'Eriksen', 'Fernandes', 'Fischer', 'García', 'Gonzalez', 'Haddad', 'Hansen', 'Hoang', 'Ibrahim', 'Ivanova', 'Jensen', 'Kapoor', 'Kim', 'Kowalski', 'Kuznetsov', 'Larsen', 'Lindqvist', 'Mahlangu', 'Martins', 'Mendoza', 'Moreau', 'Murphy', 'Nakamura', 'Nguyen', 'Novak', 'Okafor', 'Oliveira', 'Osei', 'Park', 'Patel', 'Petrov', 'Quispe', 'Rahman', 'Rossi', 'Sato', 'Schmidt', 'Silva', 'Singh', 'Suzuki', 'Tanaka', 'Torres', 'Van der Berg', 'Wang', 'Yamamoto', 'Yilmaz', 'Zhang', 'Zielinski', 'Achebe', 'Bergström', 'Cruz', 'Dlamini', 'Evans', 'Fujita', 'Goldberg', 'Horvath', 'Iyer', 'Jovanović', 'Kaur', 'Lopez', 'Mensah', 'Nilsson', 'O’Brien', 'Papadopoulos', 'Reyes', 'Sokolova', 'Takahashi', 'Usman'];

/** The n-th generated member: a realistic name (65 × 79 distinct combinations, so 5,000 names never repeat) and an account id in Atlassian's form. */
export function generatedMember(n: number): { accountId: string; displayName: string } {
  const first = FIRST_NAMES[n % FIRST_NAMES.length]!;
  const last = LAST_NAMES[Math.floor(n / FIRST_NAMES.length) % LAST_NAMES.length]!;
  return { accountId: `712020:${createHash('md5').update(`member-${n}`).digest('hex').slice(0, 24)}`, displayName: `${first} ${last}` };
}

export function seedDemo(bitbucket: FakeBitbucket, size: DemoSize = 'standard'): void {
  const people = Object.values(DEMO.people);
  const generated = size === 'large' ? Array.from({ length: LARGE_DEMO_MEMBERS }, (_, n) => generatedMember(n)) : [];
  for (const p of [...people, ...generated]) bitbucket.addUser({ ...p, uuid: uuidOf(p.accountId) });
  // The demo's own people first, then everyone else: Bitbucket lists members in no name order either.
  bitbucket.addWorkspace({ ...DEMO.workspace, members: [...people, ...generated].map((p) => p.accountId) });
  const { author, riley, sam, jordan, admin, reader } = DEMO.people;
  const repo = bitbucket.addRepository({
    ...DEMO.repository,
    branches: ['main', 'develop', 'docs', 'release/2026.11', 'feature/refunds', 'docs/release'],
    workspace: { uuid: DEMO.workspace.uuid, slug: DEMO.workspace.slug },
    permissions: {
      [admin.accountId]: 'admin',
      [author.accountId]: 'write',
      [riley.accountId]: 'write',
      [sam.accountId]: 'write',
      [jordan.accountId]: 'write',
      [reader.accountId]: 'read',
    },
  });
  // Where main is before any pull request merges into it: the commit a deploy of main or a new tag starts from.
  bitbucket.seedCommit(repo, { hash: demoCommit('main-initial'), author: admin.accountId, message: 'Start the payments service' });
  repo.heads = { main: demoCommit('main-initial') };
  bitbucket.addEnvironment(repo, { ...DEMO.environments.staging });
  bitbucket.addEnvironment(repo, { ...DEMO.environments.production });
  bitbucket.addPullRequest(repo, {
    id: 1,
    title: 'Add the refunds endpoint',
    author: author.accountId,
    sourceBranch: 'feature/refunds',
    targetBranch: 'main',
    state: 'OPEN',
    reviewers: [riley.accountId, sam.accountId],
    commits: [
      { hash: demoCommit('refunds-1'), author: author.accountId, message: 'Model refunds and their states' },
      { hash: demoCommit('refunds-2'), author: author.accountId, message: 'POST /refunds with idempotency keys' },
    ],
  });
  bitbucket.addPullRequest(repo, {
    id: 2,
    title: 'Document the release process',
    author: jordan.accountId,
    sourceBranch: 'docs/release',
    targetBranch: 'docs',
    state: 'OPEN',
    reviewers: [riley.accountId],
    commits: [{ hash: demoCommit('docs-1'), author: jordan.accountId, message: 'Write RELEASING.md' }],
  });
  bitbucket.addPullRequest(repo, {
    id: 3,
    title: 'Fix rounding of refunds in release 1',
    author: sam.accountId,
    sourceBranch: 'hotfix/refund-rounding',
    targetBranch: 'release/1',
    state: 'OPEN',
    reviewers: [riley.accountId, jordan.accountId],
    commits: [{ hash: demoCommit('release-1-rounding'), author: sam.accountId, message: 'Round refunds half-even, as payouts do' }],
  });
}
