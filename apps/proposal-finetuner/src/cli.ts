#!/usr/bin/env node
import { runBinary } from '@det/trainer';
import { runFinetuneCli } from './program';

// The `det-finetune` binary: errors print one line naming the thing at fault, no stack trace.
await runBinary('det-finetune', runFinetuneCli);
