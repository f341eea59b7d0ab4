import { latestStatuses, type FakeBitbucket, type FakePullRequest, type FakeRepository } from '../dev/fakeBitbucket';
import type { EnvironmentView, ProvidedPipeline } from './pipelines';

export type Theme = 'light' | 'dark';

export type AppName = 'pr-card' | 'settings' | 'audit' | 'deployments';

export interface PageContext {
  bitbucket: FakeBitbucket;
  accountId: string;
  theme: Theme;
  /** The origin the app frames are served from (another site). */
  frameOrigin: string;
  /** The URL of a new app frame, its context fixed by the host now, for this account. */
  frameSrc: (app: AppName, repo: FakeRepository, pullRequest?: number) => string;
}

export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function displayName(ctx: PageContext, accountId: string): string {
  return ctx.bitbucket.users.get(accountId)?.displayName ?? accountId;
}

function layout(ctx: PageContext, title: string, body: string): string {
  const people = [...ctx.bitbucket.users.values()];
  const options = people
    .map((u) => `<option value="${esc(u.accountId)}"${u.accountId === ctx.accountId ? ' selected' : ''}>${esc(u.displayName)}</option>`)
    .join('');
  return `<!doctype html>
<html lang="en" data-color-mode="${ctx.theme}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · Local Bitbucket</title>
<link rel="stylesheet" href="/host/tokens.css"><link rel="stylesheet" href="/host/host.css">
<script src="/host/page.js" defer></script></head>
<body data-account="${esc(ctx.accountId)}" data-frame-origin="${esc(ctx.frameOrigin)}">
<header class="topbar">
  <a class="brand" href="/">Bitbucket <span>local host for Countersign</span></a>
  <div class="controls">
    <label for="acting-user">Acting as</label>
    <select id="acting-user">${options}</select>
    <button type="button" id="theme-toggle" aria-pressed="${ctx.theme === 'dark'}">${ctx.theme === 'dark' ? 'Light theme' : 'Dark theme'}</button>
    <button type="button" id="reset-demo" title="Forget every policy, key, signature and pushed commit, and start again from the demo workspace">Reset demo</button>
  </div>
</header>
${body}
</body></html>`;
}

export function indexPage(ctx: PageContext): string {
  const repos = ctx.bitbucket.repositories
    .map((repo) => {
      const prs = [...repo.pullRequests.values()]
        .map((pr) => `<li><a href="${prPath(repo, pr.id)}">#${pr.id} ${esc(pr.title)}</a> <span class="lozenge">${pr.state}</span> <span class="subtle">${esc(pr.sourceBranch)} → ${esc(pr.targetBranch)}</span></li>`)
        .join('');
      return `<section class="panel"><h2>${esc(repo.workspace.slug)} / ${esc(repo.slug)}</h2><p><a href="${settingsPath(repo)}">Repository settings → Countersign</a> · <a href="${auditPath(repo)}">Countersign audit log</a> · <a href="${deploymentsPath(repo)}">Countersign deployments</a> · <a href="${pipelinesPath(repo)}">Pipelines</a></p><h3>Pull requests</h3><ul>${prs}</ul></section>`;
    })
    .join('');
  return layout(ctx, 'Repositories', `<main class="page"><h1>Repositories</h1>${repos}</main>`);
}

export function prPath(repo: FakeRepository, id: number): string {
  return `/${repo.workspace.slug}/${repo.slug}/pull-requests/${id}`;
}

export function settingsPath(repo: FakeRepository): string {
  return `/${repo.workspace.slug}/${repo.slug}/admin/countersign`;
}

/** Where Bitbucket puts an app's repository main menu page (`bitbucket:repoMainMenuPage`). */
export function auditPath(repo: FakeRepository): string {
  return `/${repo.workspace.slug}/${repo.slug}/countersign-audit`;
}

/** The deployments page, another repository main menu page. */
export function deploymentsPath(repo: FakeRepository): string {
  return `/${repo.workspace.slug}/${repo.slug}/countersign-deployments`;
}

/** The local host's stand-in for Bitbucket Pipelines' deployments. */
export function pipelinesPath(repo: FakeRepository): string {
  return `/${repo.workspace.slug}/${repo.slug}/pipelines`;
}

const BUILD_TONE: Record<string, string> = { SUCCESSFUL: 'success', FAILED: 'danger', STOPPED: 'warning', INPROGRESS: 'info' };

/** The build statuses of the pull request's head commit, the latest of each key (the PR page polls this to update it in place). */
export function buildsList(repo: FakeRepository, pr: FakePullRequest): string {
  const head = pr.commits[pr.commits.length - 1]!.hash;
  const builds = latestStatuses(repo, head);
  if (builds.length === 0) return `<p class="subtle" data-testid="no-builds">No builds on <code>${head.slice(0, 7)}</code> yet.</p>`;
  const items = builds
    .map(
      (b) =>
        `<li data-testid="build-${esc(b.key)}" data-state="${esc(b.state)}"><span class="lozenge ${BUILD_TONE[b.state] ?? ''}">${esc(b.state)}</span> <strong>${esc(b.name ?? b.key)}</strong>${b.description ? `<br><span class="subtle">${esc(b.description)}</span>` : ''}</li>`,
    )
    .join('');
  return `<ul class="plain builds">${items}</ul>`;
}

/** Forge's Custom UI iframe sandbox. */
const SANDBOX = 'allow-same-origin allow-scripts allow-forms allow-modals allow-downloads allow-pointer-lock';

export function pullRequestPage(ctx: PageContext, repo: FakeRepository, pr: FakePullRequest): string {
  const commits = [...pr.commits]
    .reverse()
    .map((c) => `<tr><td><code title="${c.hash}">${c.hash.slice(0, 7)}</code></td><td>${esc(c.message)}</td><td>${esc(displayName(ctx, c.author))}</td></tr>`)
    .join('');
  const participants = [
    `<li>${esc(displayName(ctx, pr.author))} <span class="subtle">author</span></li>`,
    ...pr.reviewers.map((id) => `<li>${esc(displayName(ctx, id))} <span class="subtle">reviewer</span></li>`),
  ].join('');
  const open = pr.state === 'OPEN';
  // As in Bitbucket, someone who can only read the repository has no Merge button.
  const permission = repo.permissions[ctx.accountId];
  const writer = permission === 'write' || permission === 'admin';
  const merge = writer ? `\n      <button type="button" id="decline"${open ? '' : ' disabled'}>Decline</button>\n      <button type="button" id="merge" class="primary"${open ? '' : ' disabled'}>Merge</button>` : '';
  const admin = permission === 'admin';
  const required = repo.requirePassingBuilds === true;
  const appMerge = pr.state === 'MERGED' ? repo.merges?.find((m) => m.pullRequest === pr.id) : undefined;
  const mergedBy = appMerge ? ` <span class="subtle" data-testid="merged-by">Merged by Countersign (auto-merge, ${esc(appMerge.strategy.replace(/_/g, ' '))}) at <code>${appMerge.commit.slice(0, 7)}</code></span>` : '';
  const builds = `<section class="panel" aria-labelledby="builds-heading"><h2 id="builds-heading">Builds</h2>
        <div id="build-list" aria-live="polite">${buildsList(repo, pr)}</div>
        <label class="switch" title="${admin ? 'Merge then needs every build on the head commit to pass, instead of the merge check' : 'Only repository admins can change this'}"><input type="checkbox" role="switch" id="require-builds"${required ? ' checked' : ''}${admin ? '' : ' disabled'}> Require passing builds</label>
      </section>`;
  const body = `<main class="page pr" data-workspace="${esc(repo.workspace.uuid)}" data-repository="${esc(repo.uuid)}" data-pull-request="${pr.id}" data-state="${pr.state}">
  <nav class="crumbs"><a href="/">${esc(repo.workspace.slug)}</a> / <a href="/">${esc(repo.slug)}</a> / Pull requests · <a href="${auditPath(repo)}">Countersign audit log</a> · <a href="${deploymentsPath(repo)}">Countersign deployments</a> · <a href="${pipelinesPath(repo)}">Pipelines</a></nav>
  <div class="pr-head">
    <div>
      <h1>${esc(pr.title)} <span class="subtle">#${pr.id}</span></h1>
      <p><span class="lozenge ${open ? 'info' : 'success'}" data-testid="pr-state">${pr.state}</span>${mergedBy} <code>${esc(pr.sourceBranch)}</code> → <code>${esc(pr.targetBranch)}</code></p>
    </div>
    <div class="actions">
      ${writer ? `<button type="button" id="push-commit"${open ? '' : ' disabled'}>Push a commit</button>` : ''}${merge}
    </div>
  </div>
  <div id="merge-result" role="status" aria-live="polite"></div>
  <div class="pr-body">
    <div class="pr-main">
      <section class="panel"><h2>Commits</h2><table class="commits"><thead><tr><th>Commit</th><th>Message</th><th>Author</th></tr></thead><tbody>${commits}</tbody></table></section>
    </div>
    <aside class="pr-sidebar">
      <section class="panel"><h2>Participants</h2><ul class="plain">${participants}</ul></section>
      ${builds}
      <section class="panel app-card"><h2>Countersign</h2>
        <iframe title="Countersign" class="forge-app" sandbox="${SANDBOX}" src="${esc(ctx.frameSrc('pr-card', repo, pr.id))}"></iframe>
      </section>
    </aside>
  </div>
</main>`;
  return layout(ctx, pr.title, body);
}

export function settingsPage(ctx: PageContext, repo: FakeRepository): string {
  const body = `<main class="page settings-page">
  <nav class="crumbs"><a href="/">${esc(repo.workspace.slug)}</a> / <a href="/">${esc(repo.slug)}</a> / Repository settings · <a href="${auditPath(repo)}">Countersign audit log</a> · <a href="${deploymentsPath(repo)}">Countersign deployments</a> · <a href="${pipelinesPath(repo)}">Pipelines</a></nav>
  <div class="settings-layout">
    <nav class="settings-nav" aria-label="Repository settings"><ul class="plain"><li>Repository details</li><li>Branch restrictions</li><li aria-current="page"><strong>Countersign</strong></li></ul></nav>
    <iframe title="Countersign settings" class="forge-app wide" sandbox="${SANDBOX}" src="${esc(ctx.frameSrc('settings', repo))}"></iframe>
  </div>
</main>`;
  return layout(ctx, 'Countersign settings', body);
}

export function auditPage(ctx: PageContext, repo: FakeRepository): string {
  const body = `<main class="page settings-page">
  <nav class="crumbs"><a href="/">${esc(repo.workspace.slug)}</a> / <a href="/">${esc(repo.slug)}</a> / Countersign audit log · <a href="${settingsPath(repo)}">Repository settings → Countersign</a> · <a href="${deploymentsPath(repo)}">Countersign deployments</a> · <a href="${pipelinesPath(repo)}">Pipelines</a></nav>
  <iframe title="Countersign audit log" class="forge-app wide" sandbox="${SANDBOX}" src="${esc(ctx.frameSrc('audit', repo))}"></iframe>
</main>`;
  return layout(ctx, 'Countersign audit log', body);
}

export function deploymentsPage(ctx: PageContext, repo: FakeRepository): string {
  const body = `<main class="page settings-page">
  <nav class="crumbs"><a href="/">${esc(repo.workspace.slug)}</a> / <a href="/">${esc(repo.slug)}</a> / Countersign deployments · <a href="${auditPath(repo)}">Countersign audit log</a> · <a href="${settingsPath(repo)}">Repository settings → Countersign</a> · <a href="${pipelinesPath(repo)}">Pipelines</a></nav>
  <iframe title="Countersign deployments" class="forge-app wide" sandbox="${SANDBOX}" src="${esc(ctx.frameSrc('deployments', repo))}"></iframe>
</main>`;
  return layout(ctx, 'Countersign deployments', body);
}

/**
 * Bitbucket Pipelines' deployments, as far as Countersign goes: each environment with where it stands and
 * a deploy step to run (the gate's answer shown in place), and the demo's configuration beside what the
 * dynamic pipelines provider makes of it, the inserted gate highlighted.
 */
export function pipelinesPage(ctx: PageContext, repo: FakeRepository, environments: EnvironmentView[], provided: ProvidedPipeline): string {
  const tags = repo.tags ?? [];
  const rows = environments
    .map(({ environment: env, deployed }) => {
      const id = env.name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
      const byTag = env.type === 'Production';
      const where = deployed
        ? `<code>${deployed.commit.slice(0, 7)}</code>${deployed.ref ? ` (${deployed.ref.type} ${esc(deployed.ref.name)})` : ''}${deployed.by ? `, deployed by ${esc(displayName(ctx, deployed.by))}` : ''}`
        : '<span class="lozenge">Never deployed</span>';
      return `<section class="panel environment" data-environment="${esc(env.uuid)}" data-name="${esc(env.name)}" aria-label="Environment ${esc(env.name)}">
    <h2>${esc(env.name)} <span class="subtle">${esc(env.type)}</span></h2>
    <p data-testid="deployed">${esc(env.name)}: ${where}</p>
    <div class="deploy-controls">
      <label>Ref <select class="ref" aria-label="Ref for ${esc(env.name)}"><option value="branch"${byTag ? '' : ' selected'}>branch main</option><option value="tag"${byTag ? ' selected' : ''}>tag</option></select></label>
      <label>Tag name <input class="tag" aria-label="Tag for ${esc(env.name)}" value="${esc(tags.at(-1)?.name ?? 'v1.0.0')}" size="12" id="tag-${id}"></label>
      <button type="button" class="primary run-step" data-gate="true">Run deploy step</button>
      <button type="button" class="run-step small" data-gate="false" title="Simulates a pipeline whose step skips Countersign's gate and deploys anyway">Deploy without the gate (simulates a pipeline that skips Countersign)</button>
    </div>
    <div class="gate-answer" role="status" aria-live="polite"></div>
  </section>`;
    })
    .join('');
  const main = repo.heads?.main;
  const refs = `<p class="subtle">main is at ${main ? `<code>${main.slice(0, 7)}</code>` : 'no commit yet'}${tags.length ? `; tags: ${tags.map((t) => `<code>${esc(t.name)}</code> → <code>${t.commit.slice(0, 7)}</code>`).join(', ')}` : ''}. A new tag is made at main's head.</p>`;
  const rewritten =
    'yaml' in provided
      ? `<pre class="yaml" data-testid="provided-pipeline">${highlightGate(provided.yaml)}</pre>`
      : `<div class="merge-result danger" data-testid="provider-refusal"><strong>The provider refuses this pipeline.</strong><p>${esc(provided.error.message)} <code>${esc(provided.error.key)}</code></p></div>`;
  const body = `<main class="page pipelines" data-workspace="${esc(repo.workspace.uuid)}" data-repository="${esc(repo.uuid)}">
  <nav class="crumbs"><a href="/">${esc(repo.workspace.slug)}</a> / <a href="/">${esc(repo.slug)}</a> / Pipelines · <a href="${deploymentsPath(repo)}">Countersign deployments</a> · <a href="${auditPath(repo)}">Countersign audit log</a> · <a href="${settingsPath(repo)}">Repository settings → Countersign</a></nav>
  <h1>Deployments</h1>
  ${refs}
  ${rows}
  <section class="panel" aria-labelledby="pipeline-heading"><h2 id="pipeline-heading">The pipeline, through Countersign's dynamic pipelines provider</h2>
    <div class="pipeline-columns">
      <div><h3>bitbucket-pipelines.yml</h3><pre class="yaml" data-testid="source-pipeline">${esc(provided.source)}</pre></div>
      <div><h3>What Pipelines runs</h3>${rewritten}</div>
    </div>
  </section>
</main>`;
  return layout(ctx, 'Pipelines', body);
}

/** The provider's output with the lines it added for the gate marked. */
function highlightGate(yaml: string): string {
  return yaml
    .split('\n')
    .map((line) => (line.includes('countersign-deployment-gate') ? `<mark data-testid="gate-line">${esc(line)}</mark>` : esc(line)))
    .join('\n');
}

/** The app's built index.html with the fake bridge and the frame's context put in ahead of the bundle. */
export function appFrame(html: string, frame: unknown): string {
  const inject = `<script>window.__COUNTERSIGN_FRAME__ = ${JSON.stringify(frame).replace(/</g, '\\u003c')};</script><script src="/host/bridge.js"></script>`;
  return html.replace('<head>', `<head>${inject}`);
}
