import * as tf from '@tensorflow/tfjs-core';
import { type DetectorConfig, parseDetectorConfig } from '../config';
import type { DetectorBatch } from '../detector';
import { presets } from '../presets';
import { compositionBatch } from './composition-cases';

/**
 * Every detector kind and anchor scheme as a tiny config, with the loss names it trains
 * (the README's "Every kind" table; kinds without a preset are a preset's dense head with
 * another scheme).
 */
export const everyKind: Record<string, { config: () => DetectorConfig; losses: string[] }> = {
  RetinaNet: { config: () => presets.tinyRetinaNet(3), losses: ['loss_bbox', 'loss_cls'] },
  RPN: { config: () => presets.tinyRpn(), losses: ['loss_rpn_bbox', 'loss_rpn_cls'] },
  'Faster R-CNN': {
    config: () => presets.tinyFasterRcnn(3),
    losses: ['loss_bbox', 'loss_cls', 'loss_rpn_bbox', 'loss_rpn_cls'],
  },
  'Fast R-CNN': { config: () => presets.tinyFastRcnn(3), losses: ['loss_bbox', 'loss_cls'] },
  'GA-RPN': {
    config: () => presets.tinyGaRpn(),
    losses: ['loss_loc', 'loss_rpn_bbox', 'loss_rpn_cls', 'loss_shape'],
  },
  'GA-RetinaNet': {
    config: () => presets.tinyGaRetinaNet(3),
    losses: ['loss_bbox', 'loss_cls', 'loss_loc', 'loss_shape'],
  },
  'GA-Faster R-CNN': {
    config: () => presets.tinyGaFasterRcnn(3),
    losses: ['loss_bbox', 'loss_cls', 'loss_loc', 'loss_rpn_bbox', 'loss_rpn_cls', 'loss_shape'],
  },
  'MetaAnchor RetinaNet': {
    config: () => presets.metaRetinanetTiny(3),
    losses: ['loss_bbox', 'loss_cls'],
  },
  'Meta-RPN': { config: () => presets.tinyMetaRpn(), losses: ['loss_rpn_bbox', 'loss_rpn_cls'] },
  'meta-guided RetinaNet': {
    config: () => presets.tinyMetaGuidedRetinaNet(3),
    losses: ['loss_bbox', 'loss_cls', 'loss_loc', 'loss_shape'],
  },
  // Kinds without a preset of their own (README, "Every kind"): a preset's dense head with
  // another anchor scheme.
  'meta-guided RPN': {
    config: () => withScheme(presets.tinyGaRpn(), { type: 'meta-guided', hiddenSize: 16 }),
    losses: ['loss_loc', 'loss_rpn_bbox', 'loss_rpn_cls', 'loss_shape'],
  },
  'Meta-Faster R-CNN': {
    config: () =>
      withScheme(presets.tinyFasterRcnn(3), {
        type: 'meta',
        hiddenSize: 32,
        baseSize: 16,
        jitter: 0,
      }),
    losses: ['loss_bbox', 'loss_cls', 'loss_rpn_bbox', 'loss_rpn_cls'],
  },
  'meta-guided Faster R-CNN': {
    config: () => withScheme(presets.tinyGaFasterRcnn(3), { type: 'meta-guided', hiddenSize: 16 }),
    losses: ['loss_bbox', 'loss_cls', 'loss_loc', 'loss_rpn_bbox', 'loss_rpn_cls', 'loss_shape'],
  },
};

/** `config` with its dense head's anchor scheme replaced (the guided fields kept for meta-guided). */
export function withScheme(
  config: DetectorConfig,
  scheme: Record<string, unknown>,
): DetectorConfig {
  if (config.kind === 'single-stage') {
    const { type: _type, ...fields } = config.head.anchorScheme as Record<string, unknown>;
    return parseDetectorConfig({
      ...config,
      head: {
        ...config.head,
        anchorScheme: { ...(scheme.type === 'meta' ? {} : fields), ...scheme },
      },
    });
  }
  if (config.proposals.type !== 'rpn') throw new Error('expected RPN proposals');
  const { type: _type, ...fields } = config.proposals.anchorScheme as Record<string, unknown>;
  return parseDetectorConfig({
    ...config,
    proposals: {
      ...config.proposals,
      anchorScheme: { ...(scheme.type === 'meta' ? {} : fields), ...scheme },
    },
  });
}

/** The composition batch with the second image's ground truth removed. */
export function batchWithoutGtInImage1(): DetectorBatch {
  const batch = compositionBatch();
  tf.dispose([batch.gtBoxes[1]!, batch.gtLabels[1]!]);
  return {
    ...batch,
    gtBoxes: [batch.gtBoxes[0]!, tf.zeros([0, 4]) as tf.Tensor2D],
    gtLabels: [batch.gtLabels[0]!, tf.zeros([0], 'int32') as tf.Tensor1D],
  };
}
