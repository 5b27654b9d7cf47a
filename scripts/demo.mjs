#!/usr/bin/env node
// `pnpm demo`: the README's first command — `det train --preset demo --resume` on the embedded
// synthetic dataset (a tiny RetinaNet, AdamW, 600 s a session on the CPU), then the COCO table
// and the report's path. Rerunning resumes runs/demo and trains further.
//   DEMO_TRAIN_SECONDS  training seconds for this session (default: the preset's 600)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const det = fileURLToPath(new URL('../apps/trainer/dist/cli.js', import.meta.url));
const args = ['train', '--preset', 'demo', '--resume', ...process.argv.slice(2)];
if (process.env.DEMO_TRAIN_SECONDS) args.push('--time', process.env.DEMO_TRAIN_SECONDS);
const result = spawnSync(process.execPath, [det, ...args], { stdio: 'inherit' });
process.exit(result.status ?? 1);
