// det on webgpu against PyTorch CUDA: training-step time of the tiny RetinaNet (batch 2, 320²)
// and the R-50-FPN RetinaNet (batch 2, 512²), same batch and size on both sides, with the ratio.
//   pnpm bench:gpu                 (on a GPU machine: builds, then runs both models)
//   node bench/gpu-step.mjs [--models tiny-retinanet,r50-retinanet] [--size N] [--steps 5]
//        [--allow-software] [--torch-device cuda|cpu]
// On a machine without a GPU, `--allow-software --torch-device cpu --models tiny-retinanet
// --size 64` runs the same path on lavapipe (software Vulkan, scripts/install-lavapipe.sh) to
// check the script end to end; those numbers say nothing about GPU speed.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'tiny-retinanet,r50-retinanet' },
    size: { type: 'string' },
    batch: { type: 'string', default: '2' },
    steps: { type: 'string', default: '5' },
    'allow-software': { type: 'boolean', default: false },
    'torch-device': { type: 'string', default: 'cuda' },
  },
});
const defaultSize = { 'tiny-retinanet': 320, 'r50-retinanet': 512 };
const lastJson = (out) => JSON.parse(out.trim().split('\n').pop());

const rows = [];
for (const model of values.models.split(',')) {
  if (!(model in defaultSize)) {
    throw new Error(`--models: ${model} is not one of ${Object.keys(defaultSize).join(', ')}`);
  }
  const size = values.size ?? String(defaultSize[model]);
  const common = [
    '--model',
    model,
    '--batch',
    values.batch,
    '--size',
    size,
    '--steps',
    values.steps,
  ];
  const det = lastJson(
    execFileSync(
      process.execPath,
      [join(root, 'packages/detectors/bench/step-time.mjs'), ...common],
      {
        encoding: 'utf8',
        env: {
          ...process.env,
          DET_BACKEND: 'webgpu',
          ...(values['allow-software'] ? { DET_WEBGPU_ALLOW_SOFTWARE: '1' } : {}),
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    ),
  );
  const torch = lastJson(
    execFileSync(
      '/usr/bin/python3',
      [
        join(root, 'bench/torch_step.py'),
        ...common,
        '--device',
        values['torch-device'],
        '--threads',
        '1',
        '--optimizer',
        det.optimizer === 'adam' ? 'adamw' : 'sgd',
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    ),
  );
  rows.push({
    model,
    'batch × size': `${values.batch}×${size}²`,
    'det webgpu (s)': det.step.toFixed(4),
    device: det.device,
    [`PyTorch ${torch.version} ${values['torch-device']} (s)`]: torch.step.toFixed(4),
    'torch device': torch.device,
    'det ÷ PyTorch': `${(det.step / torch.step).toFixed(2)}×`,
  });
}
console.table(rows);
