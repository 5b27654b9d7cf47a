import type { AnchorFunctionFactory } from '@det/heads';
import { type DetectorConfig, type DetectorConfigInput, parseDetectorConfig } from './config';
import type { Detector } from './detector';
import { RetinaNet } from './retinanet';
import { FasterRcnn, FastRcnn, Rpn } from './two-stage';

/** Builds a detector from a (validated) config: the typed `fromConfig` of this package. */
export function createDetector(
  input: DetectorConfig | DetectorConfigInput,
  options: { anchorFunction?: AnchorFunctionFactory } = {},
): Detector {
  const config = parseDetectorConfig(input);
  switch (config.kind) {
    case 'retinanet':
      return new RetinaNet({ config, ...options });
    case 'rpn':
      return new Rpn({ config, ...options });
    case 'faster-rcnn':
      return new FasterRcnn({ config, ...options });
    case 'fast-rcnn':
      return new FastRcnn({ config });
  }
}
