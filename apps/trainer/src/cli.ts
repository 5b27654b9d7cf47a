#!/usr/bin/env node
import { runBinary } from './command-line';
import { runCli } from './program';

// The `det` binary: errors print one line naming the thing at fault, no stack trace.
await runBinary('det', runCli);
