import type { AnchorFunctionFactory } from '@det/heads';
import { type DetectorConfig, type DetectorConfigInput, parseDetectorConfig } from './config';
import type { Detector } from './detector';
import { RetinaNet } from './retinanet';

/** Builds a detector from a (validated) config: the typed `fromConfig` of this package. */
export function createDetector(
  input: DetectorConfig | DetectorConfigInput,
  options: { anchorFunction?: AnchorFunctionFactory } = {},
): Detector {
  const config = parseDetectorConfig(input);
  switch (config.kind) {
    case 'retinanet':
      return new RetinaNet({ config, ...options });
    default:
      throw new Error(`createDetector: kind '${config.kind}' is not built yet`);
  }
}
