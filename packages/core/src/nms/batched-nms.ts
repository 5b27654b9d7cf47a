import {
  type BoxesInput,
  boxesToHost,
  checkNmsOptions,
  type NmsOptions,
  nmsHost,
  type ScoresInput,
  vectorToHost,
} from './nms';

const fround = Math.fround;

/**
 * NMS within each class: boxes of different `labels` never suppress each other. Uses
 * torchvision's coordinate trick (`_batched_nms_coordinate_trick`): every box is shifted
 * by `label · (max coordinate + 1)` in float32, then one NMS runs, so results equal
 * `torchvision.ops.batched_nms` on inputs where torchvision takes that path (≤ 1000 boxes
 * on CPU; above, it loops over classes, which differs only by float32 rounding of the
 * shifted coordinates and by its unstable final sort). Like torchvision, the classes are
 * separated only when coordinates are ≥ 0.
 */
export function batchedNms(
  boxes: BoxesInput,
  scores: ScoresInput,
  labels: ScoresInput,
  options: NmsOptions,
): Int32Array {
  checkNmsOptions(options, 'batchedNms');
  const host = boxesToHost(boxes, 'batchedNms');
  const hostScores = vectorToHost(scores, 'batchedNms', 'scores');
  const hostLabels = vectorToHost(labels, 'batchedNms', 'labels');
  const n = host.length / 4;
  if (hostLabels.length !== n) {
    throw new Error(`batchedNms: boxes has ${n} boxes but labels has ${hostLabels.length} entries`);
  }
  if (n === 0) return new Int32Array(0);
  let maxCoordinate = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < host.length; i++) if (host[i]! > maxCoordinate) maxCoordinate = host[i]!;
  const step = fround(maxCoordinate + 1);
  const shifted = new Float32Array(host.length);
  for (let i = 0; i < n; i++) {
    const offset = fround(hostLabels[i]! * step);
    for (let k = 0; k < 4; k++) shifted[i * 4 + k] = host[i * 4 + k]! + offset;
  }
  return nmsHost(shifted, hostScores, options);
}
