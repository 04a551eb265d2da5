#!/usr/bin/env node
import { run } from './cli.js';

// The first Ctrl-C stops waiting (the request goes on on the server); a second one kills at once.
const interrupt = new AbortController();
process.once('SIGINT', () => interrupt.abort());

process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: interrupt.signal,
});
