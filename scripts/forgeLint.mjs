#!/usr/bin/env node
// `forge lint`, offline: runs @forge/lint's client-side linters on a Forge app directory the way the
// Forge CLI's LintService does (every file under src/, kept only if tsconfig.json's `include` globs
// name it), with the product API descriptions read from disk instead of developer.atlassian.com.
//
//   node scripts/forgeLint.mjs [appDir] [--json]
//
// Bitbucket's description is this repository's vendor/bitbucket/bitbucket-cloud-openapi.v3.json; the
// other products' (@forge/lint reads local files only when all six are given) are empty, so their
// routes match nothing. Not run: the server-side linter, which uploads the app to Atlassian.
// Exit code: 0 clean, 1 lint errors (or a linter that failed), 2 the run itself failed.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BITBUCKET_API = join(repoRoot, 'vendor/bitbucket/bitbucket-cloud-openapi.v3.json');

const args = process.argv.slice(2);
const asJson = args.includes('--json');
const appDir = resolve(args.find((a) => !a.startsWith('--')) ?? process.cwd());

// Nothing here may reach the network: a fetch is a bug, not a fallback.
globalThis.fetch = async (url) => {
  throw new Error(`forgeLint: refused network access to ${url}`);
};

const scratch = mkdtempSync(join(tmpdir(), 'forge-lint-'));
const noPaths = join(scratch, 'no-paths.json');
writeFileSync(noPaths, '{"paths":{}}');
Object.assign(process.env, {
  USE_LOCAL_SWAGGER: 'true',
  LOCAL_BB_SWAGGER: BITBUCKET_API,
  LOCAL_JIRA_SWAGGER: noPaths,
  LOCAL_JSM_SWAGGER: noPaths,
  LOCAL_JSW_SWAGGER: noPaths,
  LOCAL_CONF_SWAGGER: noPaths,
  LOCAL_CONF_V2_SWAGGER: noPaths,
  // The permission linter opens a `conf` store (unused with local descriptions): keep it out of $HOME.
  XDG_CONFIG_HOME: scratch,
});

const require = createRequire(import.meta.url);
const { lint, getClientSideLintersOnly, parseSourceFile, PermissionLinter } = require('@forge/lint');
const { ConfigFile, FileSystemReader, listGitIgnoreFiles } = require('@forge/cli-shared');

async function run() {
  // @forge/lint resolves tsconfig.json, manifest.yml and the files it is given against the cwd.
  process.chdir(appDir);
  const reader = new FileSystemReader();
  const configFile = new ConfigFile(reader, undefined);
  const manifest = await configFile.readConfig();

  // As the Forge CLI's LintService: src/ plus UI Kit resource folders, minus .gitignore'd paths.
  const exclude = [...(await listGitIgnoreFiles(reader)), '.git', 'node_modules'];
  const uiKitDirs = (await configFile.getResources(['nativeUI'])).map((r) => dirname(r.path));
  const files = [...new Set((await Promise.all(['./src', ...uiKitDirs].map((d) => reader.recursiveReadDir(d, exclude)))).flat())];

  const linterMessages = [];
  const log = (message) => linterMessages.push(String(message));
  const logger = { info: log, warn: log, error: log, debug() {}, trace() {} };
  const statsig = { getDeprecatedRuntimes: async () => [] };
  const linters = await getClientSideLintersOnly(manifest, 'development', logger, statsig);

  const parsed = [];
  const parseFunction = async (filepath, parser) => {
    parsed.push(relative(appDir, resolve(filepath)));
    return parseSourceFile(filepath, parser);
  };
  const results = await lint(files, manifest, 'development', logger, statsig, { linters, parseFunction });

  // Every Bitbucket call the permission linter saw, and the API description path it matched (if any).
  const permissions = linters.find((l) => l instanceof PermissionLinter);
  const bitbucketCalls = [...permissions.matches].flatMap(([file, found]) =>
    found.bitbucket.map((call) => {
      const hit = permissions.verifiers.bitbucket.lookupApiCall(call);
      return {
        file: relative(appDir, resolve(file)),
        line: call.line,
        method: call.method.toUpperCase(),
        path: call.path,
        apiPath: hit ? permissions.bitbucket.get(hit.regex).originalPath : null,
      };
    }),
  );

  const problems = results.flatMap((r) =>
    ['errors', 'warnings', 'approvals'].flatMap((kind) =>
      r[kind].map((p) => ({ kind: kind.slice(0, -1), file: relative(appDir, resolve(r.file)), line: p.line, column: p.column, message: p.message, ...p.metadata })),
    ),
  );
  // A linter that throws is reported by @forge/lint through the logger only ("Could not perform
  // some linting actions for ...") and yields no results: count it as a failure, not as clean.
  const linterFailures = linterMessages.filter((m) => /Could not perform/.test(m));
  const errors = problems.filter((p) => p.kind !== 'warning').length;
  return { appDir, filesListed: files.length, filesChecked: parsed.sort(), bitbucketCalls, problems, errors, linterFailures };
}

let report;
try {
  report = await run();
} catch (error) {
  console.error(`forgeLint: ${error?.stack ?? error}`);
  process.exitCode = 2;
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

if (report) {
  if (asJson) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    for (const p of report.problems) console.log(`${p.file}:${p.line}:${p.column} ${p.kind}: ${p.message.replace(/\s+/g, ' ').trim()}`);
    for (const m of report.linterFailures) console.log(m.trim());
    for (const c of report.bitbucketCalls.filter((c) => !c.apiPath)) {
      console.log(`${c.file}:${c.line} note: ${c.method} ${c.path} matches no path in Bitbucket's API description, so its scopes went unchecked`);
    }
    console.log(
      `forge lint (offline): ${report.filesChecked.length} files checked, ${report.bitbucketCalls.length} Bitbucket calls seen, ` +
        `${report.errors} errors, ${report.problems.length - report.errors} warnings, ${report.linterFailures.length} linter failures`,
    );
  }
  process.exitCode = report.errors || report.linterFailures.length ? 1 : 0;
}
