import { parseSafetensors } from '@det/backbone';
import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDetector } from './create-detector';
import { exportDetector, loadExportedDetector, parseModelInfo } from './model-file';
import { presets } from './presets';

const labels = { classNames: ['rectangle', 'ellipse'], categoryIds: [1, 2] };

describe('exported model files (model.safetensors + model.json)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('round-trips a trained-looking detector: same config, same weights, same detections', async () => {
    const config = presets.metaRetinanetTiny(2);
    if (config.kind !== 'single-stage' || !config.test) throw new Error('retina config expected');
    // Untrained scores sit at the 0.01 prior: keep every one so there is something to compare.
    const original = createDetector({
      ...config,
      test: { ...config.test, scoreThreshold: 0 },
      train: { ...config.train, seed: 7 },
    });
    const before = tf.memory().numTensors;
    const { tensors, info } = await exportDetector(original, labels, { iteration: 3 });
    const file = parseSafetensors(tensors);
    expect(file.metadata.format).toBe('det-model');
    expect(file.tensors.size).toBe(original.parameters.entries().length);
    expect(info.classNames).toEqual(['rectangle', 'ellipse']);
    expect(info.source).toEqual({ iteration: 3 });

    // From the bytes alone (metadata), and from bytes + model.json (JSON round trip).
    const fromBytes = await loadExportedDetector(tensors);
    const fromJson = await loadExportedDetector(tensors, JSON.parse(JSON.stringify(info)));
    const image = tf.randomUniform([1, 64, 64, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
    try {
      expect(fromBytes.info.config).toEqual(original.config);
      const [a] = original.predict(image, [[64, 64]]);
      const [b] = fromBytes.detector.predict(image, [[64, 64]]);
      const [c] = fromJson.detector.predict(image, [[64, 64]]);
      expect(a!.scores.length).toBeGreaterThan(0);
      expect(Array.from(b!.boxes)).toEqual(Array.from(a!.boxes));
      expect(Array.from(b!.scores)).toEqual(Array.from(a!.scores));
      expect(Array.from(c!.labels)).toEqual(Array.from(a!.labels));
      for (const entry of original.parameters.entries()) {
        const loaded = fromBytes.detector.parameters.get(entry.name);
        expect(Array.from(loaded.dataSync()), entry.name).toEqual(
          Array.from(entry.variable.dataSync()),
        );
      }
    } finally {
      image.dispose();
      fromBytes.detector.dispose();
      fromJson.detector.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    original.dispose();
  });

  it('refuses a description that does not fit, naming the field', async () => {
    const detector = createDetector(presets.tinyRetinaNet(2));
    try {
      const { tensors, info } = await exportDetector(detector, labels);
      expect(() => parseModelInfo({ ...info, format: 'det-checkpoint' })).toThrow(
        /model.json: format must be 'det-model'/,
      );
      expect(() => parseModelInfo({ ...info, classNames: ['a'], categoryIds: [1] })).toThrow(
        /1 class names for a detector of 2 classes/,
      );
      expect(() => parseModelInfo({ ...info, categoryIds: [1] })).toThrow(/categoryIds must be 2/);
      // Another architecture than the weights: the loader names the parameters at fault.
      const other = { ...info, config: presets.tinyGaRetinaNet(2) };
      await expect(loadExportedDetector(tensors, other)).rejects.toThrow(
        /model.safetensors: Cannot load weights .*\n.*missing in the file/,
      );
      // A safetensors file with no det-model metadata.
      const empty = new Uint8Array(16);
      new DataView(empty.buffer).setUint32(0, 8, true);
      empty.set(new TextEncoder().encode('{}      '), 8);
      await expect(loadExportedDetector(empty, undefined, 'x.safetensors')).rejects.toThrow(
        /x.safetensors: not an exported det model/,
      );
    } finally {
      detector.dispose();
    }
  });
});
