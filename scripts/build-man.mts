// Builds the man page dist/basyn.1 from the same program definition and manual text as --help
// (src/local/manual-render.ts), through marked-man (Markdown in ronn's format → roff). Run by
// scripts/build.mjs after the bundles; `node --import tsx scripts/build-man.mts [OUT]`.
import { writeFileSync, renameSync, readFileSync } from 'node:fs';
import { marked, type MarkedExtension } from 'marked';
import markedMan from 'marked-man';
import { buildProgram } from '../src/local/cli';
import { manualMarkdown } from '../src/local/manual-render';

const out = process.argv[2] ?? 'dist/basyn.1';
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
marked.use({ ...markedMan, manVersion: pkg.version, manual: 'basyn manual' } as MarkedExtension);
const roff = await marked.parse(manualMarkdown(buildProgram()));
writeFileSync(`${out}.tmp`, roff);
renameSync(`${out}.tmp`, out);
