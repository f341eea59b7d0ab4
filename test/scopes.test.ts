import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

/**
 * Every Bitbucket call the adapter makes needs only scopes the manifest declares, and the manifest
 * declares no Bitbucket scope that no call needs: checked against the `x-atlassian-oauth2-scopes` of
 * Bitbucket's own API description (vendored in vendor/bitbucket/).
 */
const root = join(__dirname, '..');
const api = JSON.parse(readFileSync(join(root, 'vendor/bitbucket/bitbucket-cloud-openapi.v3.json'), 'utf8'));
const adapter = readFileSync(join(root, 'src/adapters/bitbucketRest.ts'), 'utf8');
/** The settings page's own reads (as the viewer, through `requestBitbucket`), all written in one file. */
const settingsReads = readFileSync(join(root, 'static/settings/src/bitbucketReads.ts'), 'utf8');
const manifestScopes: string[] = parse(readFileSync(join(root, 'manifest.yml'), 'utf8')).permissions.scopes;

/** The routes the adapter calls, as `METHOD /path` with `${…}` placeholders, read from its source. */
function calledRoutes(source: string): { method: string; path: string }[] {
  return [...source.matchAll(/route`\/2\.0([^`?]*)[^`]*`(?:,\s*\{\s*method:\s*'(\w+)')?/g)].map((m) => ({ method: (m[2] ?? 'GET').toLowerCase(), path: m[1]! }));
}

/** The API description's operation for a called route: placeholders match any one path segment. */
function operationFor(route: { method: string; path: string }) {
  const pattern = new RegExp(`^${route.path.replace(/\$\{[^}]+\}/g, '\u0000').replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\u0000/g, '\\{[^/]+\\}')}$`);
  const path = Object.keys(api.paths).find((p) => pattern.test(p));
  return path ? { path, operation: api.paths[path][route.method] } : undefined;
}

function requiredScopes(routes: { method: string; path: string }[]): Set<string> {
  return new Set(
    routes.flatMap((route) => {
      const found = operationFor(route);
      if (!found?.operation) throw new Error(`${route.method.toUpperCase()} ${route.path} is not in Bitbucket's API description`);
      // The Pipelines OIDC discovery documents are public: the description lists no scope for them.
      return (found.operation['x-atlassian-oauth2-scopes'] ?? []).flatMap((s: { scopes: string[] }) => s.scopes);
    }),
  );
}

/** The paths the settings page reads, from the `/2.0/…` templates in its reads module (all GETs). */
function pageRoutes(source: string): { method: string; path: string }[] {
  return [...source.matchAll(/`\/2\.0([^`?]*)/g)].map((m) => ({ method: 'get', path: m[1]! }));
}

describe('Bitbucket scopes', () => {
  const routes = calledRoutes(adapter);
  const page = pageRoutes(settingsReads);

  it('finds every call the adapter makes', () => {
    expect(routes.map((r) => `${r.method} ${r.path}`)).toEqual([
      'get /repositories/${workspace}/${repository}/pullrequests/${pullRequest}',
      'get /repositories/${workspace}/${repository}/pullrequests/${pullRequest}/commits',
      'get /workspaces/${workspace}/pipelines-config/identity/oidc/.well-known/openid-configuration',
      'get /workspaces/${workspace}/pipelines-config/identity/oidc/keys.json',
      'get /repositories/${workspace}/${repository}/pipelines/${pipeline}',
      'get /repositories/${workspace}/${repository}/commit/${commit}',
      'get /repositories/${workspace}/${repository}/environments/${environment}',
      'get /repositories/${workspace}/${repository}/refs/tags/${name}',
      'get /repositories/${workspace}/${repository}/refs/branches/${name}',
      'get /repositories/${workspace}/${repository}/commit/${commit}',
      'get /repositories/${workspace}/${repository}/pullrequests',
      'get /repositories/${workspace}/${repository}/environments',
      'get /user',
      'get /user/workspaces/${workspace}/permissions/repositories',
      'post /repositories/${workspace}/${repository}/commit/${commit}/statuses/build',
      'get /repositories/${workspace}/${repository}/pullrequests/${pullRequest}',
      'post /repositories/${workspace}/${repository}/pullrequests/${pullRequest}/merge',
      'get /repositories/${workspace}/${repository}/pullrequests/${pullRequest}/merge/task-status/${taskId}',
    ]);
  });

  it('reads tags and branches (the gate checks a pipeline\'s ref) with read:repository', () => {
    const refs = routes.filter((r) => r.path.includes('/refs/'));
    expect(refs).toHaveLength(2);
    expect(requiredScopes(refs)).toEqual(new Set(['read:repository:bitbucket']));
  });

  it("finds every read the settings page makes", () => {
    expect(page.map((r) => `${r.method} ${r.path}`)).toEqual([
      'get /workspaces/${encodeURIComponent(workspace)}/members',
      'get /workspaces/${encodeURIComponent(workspace)}/members/${encodeURIComponent(accountId)}',
      'get /repositories/${encodeURIComponent(workspace)}/${encodeURIComponent(repository)}/refs/branches',
    ]);
    expect(requiredScopes(page)).toEqual(new Set(['read:workspace:bitbucket', 'read:repository:bitbucket']));
  });

  it('declares exactly the Bitbucket scopes the calls need, with the reads the settings page makes', () => {
    const needed = requiredScopes([...routes, ...page]);
    const declared = manifestScopes.filter((s) => s.endsWith(':bitbucket'));
    expect([...needed].sort()).toEqual([...declared].sort());
  });

  it('needs no scope for the Pipelines OIDC discovery documents, and read:pipeline for pipelines and environments, and for nothing else', () => {
    const oidc = routes.filter((r) => r.path.includes('pipelines-config'));
    expect(oidc).toHaveLength(2);
    expect(requiredScopes(oidc)).toEqual(new Set());
    const pipelines = routes.filter((r) => /\/(pipelines|environments)(\/|$)/.test(r.path));
    expect(pipelines.length).toBeGreaterThanOrEqual(3);
    expect(requiredScopes(pipelines)).toEqual(new Set(['read:pipeline:bitbucket']));
    expect([...requiredScopes(routes.filter((r) => !pipelines.includes(r)))]).not.toContain('read:pipeline:bitbucket');
  });

  it('notices a scope removed from the manifest', () => {
    const needed = requiredScopes(routes);
    const without = manifestScopes.filter((s) => s !== 'read:pullrequest:bitbucket');
    expect([...needed].filter((s) => !without.includes(s))).toEqual(['read:pullrequest:bitbucket']);
  });
});
