#!/usr/bin/env node
// The `stride` command; the code is in src/cli/main.ts (built to dist/).
import { main } from "../dist/src/cli/main.js";

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
