#!/usr/bin/env node
// The `batchgate` command: runs the TypeScript CLI through tsx (a dependency), with no build step.
import { register } from "tsx/esm/api";

register();
const { run } = await import("./main.ts");
process.exitCode = await run(process.argv);
