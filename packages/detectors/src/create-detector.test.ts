import type { GuidedAnchorComponents } from '@det/anchors-guided';
import { metaAnchorFunction } from '@det/anchors-meta';
import { initBackend, ParameterStore } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDenseHead } from './build-parts';
import { createDetector } from './create-detector';
import { resnetFpnPyramid } from './parts';
import { presets } from './presets';
import { guidedAnchorFunctionOf, metaAnchorFunctionOf } from './scheme-access';
import { SingleStageDetector } from './single-stage-detector';
import { compositionBatch, disposeCompositionBatch } from './testing/composition-cases';
import { TwoStageDetector } from './two-stage-detector';

describe('createDetector: configs and parts', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('builds a single-stage detector from user-built backbone and head objects', () => {
    const tiny = presets.tinyRetinaNet(3);
    if (tiny.kind !== 'single-stage') throw new Error('kind');
    const parameters = new ParameterStore();
    const backbone = resnetFpnPyramid(tiny.backbone, 'p3-p7', parameters);
    const head = buildDenseHead({
      head: tiny.head,
      numClasses: 3,
      inChannels: backbone.channels,
      strides: backbone.strides,
      store: parameters,
      seed: 0,
      anchorFunction: metaAnchorFunction({ anchors: '3x3', hiddenSize: 8 }),
    });
    const detector = createDetector(tiny, { parameters, backbone, head });
    const batch = compositionBatch();
    try {
      expect(detector).toBeInstanceOf(SingleStageDetector);
      expect(detector.parameters).toBe(parameters);
      expect(metaAnchorFunctionOf(detector)).toBeDefined();
      expect(parameters.has('bbox_head.retina_cls.generator.w2')).toBe(true);
      const losses = detector.losses(batch);
      expect(Object.keys(losses).sort()).toEqual(['loss_bbox', 'loss_cls']);
      for (const loss of Object.values(losses))
        expect(Number.isFinite(loss.dataSync()[0])).toBe(true);
      tf.dispose(Object.values(losses));
    } finally {
      disposeCompositionBatch(batch);
      detector.dispose();
    }
  });

  it("builds GA Table 4's ablations from config: only the modules that are on, their losses", () => {
    const tiny = presets.tinyGaRpn();
    if (tiny.kind !== 'single-stage' || tiny.head.anchorScheme.type !== 'guided') {
      throw new Error('kind');
    }
    const cases = [
      [
        { location: false, featureAdaption: false },
        ['loss_rpn_bbox', 'loss_rpn_cls', 'loss_shape'],
      ],
      [{ shape: false, featureAdaption: false }, ['loss_loc', 'loss_rpn_bbox', 'loss_rpn_cls']],
      [{ featureAdaption: false }, ['loss_loc', 'loss_rpn_bbox', 'loss_rpn_cls', 'loss_shape']],
    ] as [GuidedAnchorComponents, string[]][];
    const batch = compositionBatch();
    try {
      for (const [components, losses] of cases) {
        const detector = createDetector({
          ...tiny,
          head: { ...tiny.head, anchorScheme: { ...tiny.head.anchorScheme, components } },
        });
        try {
          const fn = guidedAnchorFunctionOf(detector)!;
          expect(fn.components).toEqual({ location: true, shape: true, ...components });
          const names = detector.parameters.entries().map((e) => e.name);
          const has = (part: string) => names.some((name) => name.includes(`.${part}.`));
          expect(has('conv_loc')).toBe(components.location !== false);
          expect(has('conv_shape')).toBe(components.shape !== false);
          expect(has('feature_adaption')).toBe(false);
          const values = detector.losses(batch);
          expect(Object.keys(values).sort()).toEqual(losses);
          tf.dispose(Object.values(values));
        } finally {
          detector.dispose();
        }
      }
    } finally {
      disposeCompositionBatch(batch);
    }
  });

  it('builds a Meta-Faster R-CNN (meta scheme on the proposal head) from config', () => {
    const tiny = presets.tinyFasterRcnn(3);
    if (tiny.kind !== 'two-stage' || tiny.proposals.type !== 'rpn') throw new Error('kind');
    const detector = createDetector({
      ...tiny,
      proposals: { ...tiny.proposals, anchorScheme: { type: 'meta', hiddenSize: 8 } },
    });
    const batch = compositionBatch();
    try {
      expect(detector).toBeInstanceOf(TwoStageDetector);
      expect(metaAnchorFunctionOf(detector)?.trainingAnchorCodes).toHaveLength(9);
      const losses = detector.losses(batch);
      expect(Object.keys(losses).sort()).toEqual([
        'loss_bbox',
        'loss_cls',
        'loss_rpn_bbox',
        'loss_rpn_cls',
      ]);
      tf.dispose(Object.values(losses));
    } finally {
      disposeCompositionBatch(batch);
      detector.dispose();
    }
  });

  it('refuses parts that would leave config fields without effect, naming them', () => {
    const anchorFunction = metaAnchorFunction();
    expect(() => createDetector(presets.tinyGaRetinaNet(3), { anchorFunction })).toThrow(
      /config head\.anchorScheme \('guided'\) would be ignored/,
    );
    expect(() => createDetector(presets.tinyFastRcnn(3), { anchorFunction })).toThrow(
      /proposals\.type is 'precomputed'/,
    );
    expect(() =>
      createDetector(presets.tinyRetinaNet(3), {
        proposals: {
          head: undefined,
          train: () => ({ losses: {}, proposals: [] }),
          infer: () => [],
          dispose: () => {},
        },
      }),
    ).toThrow(/parts\.proposals \/ parts\.roiHead have no effect on a single-stage detector/);
  });

  it('precomputed proposals: one array per image, at most maxPerImage of them', () => {
    const tiny = presets.tinyFastRcnn(3);
    if (tiny.kind !== 'two-stage') throw new Error('kind');
    const detector = createDetector({
      ...tiny,
      proposals: { type: 'precomputed', maxPerImage: 2 },
    });
    const batch = compositionBatch();
    try {
      const images = batch.images;
      expect(() => detector.predict(images, batch.imageShapes)).toThrow(
        /predict options\.proposals must hold one array of precomputed proposals per image \(2\), got none/,
      );
      const { proposals: _, ...withoutProposals } = batch;
      expect(() => detector.losses(withoutProposals)).toThrow(/batch\.proposals must hold/);
      const losses = detector.losses(batch);
      tf.dispose(Object.values(losses));
    } finally {
      disposeCompositionBatch(batch);
      detector.dispose();
    }
  });
});
