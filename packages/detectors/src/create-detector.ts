import { withInitializerSeed } from '@det/core';
import type { AnchorFunctionFactory } from '@det/heads';
import { type DetectorConfig, type DetectorConfigInput, parseDetectorConfig } from './config';
import type { Detector } from './detector';
import { GaFasterRcnn, GaRetinaNet, GaRpn } from './guided-anchoring';
import { MetaRetinaNet } from './meta-retinanet';
import { RetinaNet } from './retinanet';
import { FasterRcnn, FastRcnn, Rpn } from './two-stage';

/**
 * Builds a detector from a (validated) config: the typed `fromConfig` of this package. The
 * initial weights are drawn from `config.train.seed`, so a config names one model exactly.
 */
export function createDetector(
  input: DetectorConfig | DetectorConfigInput,
  options: { anchorFunction?: AnchorFunctionFactory } = {},
): Detector {
  const config = parseDetectorConfig(input);
  return withInitializerSeed(config.train.seed, () => build(config, options));
}

function build(
  config: DetectorConfig,
  options: { anchorFunction?: AnchorFunctionFactory },
): Detector {
  switch (config.kind) {
    case 'retinanet':
      if (config.anchorScheme.type === 'meta') {
        if (options.anchorFunction) {
          throw new Error(
            "createDetector: anchorScheme 'meta' builds its own anchor function; pass anchorFunction only with anchorScheme 'dense'",
          );
        }
        return new MetaRetinaNet({ config });
      }
      return new RetinaNet({ config, ...options });
    case 'rpn':
      return new Rpn({ config, ...options });
    case 'faster-rcnn':
      return new FasterRcnn({ config, ...options });
    case 'fast-rcnn':
      return new FastRcnn({ config });
    case 'ga-rpn':
    case 'ga-retinanet':
    case 'ga-faster-rcnn': {
      if (options.anchorFunction) {
        throw new Error(
          `createDetector: kind '${config.kind}' builds its own Guided Anchoring anchor function; anchorFunction is not accepted`,
        );
      }
      if (config.kind === 'ga-rpn') return new GaRpn({ config });
      if (config.kind === 'ga-retinanet') return new GaRetinaNet({ config });
      return new GaFasterRcnn({ config });
    }
  }
}
