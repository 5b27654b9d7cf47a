/**
 * How the four numbers of a box are laid out along its last axis.
 * - `xyxy`: corners (x1, y1, x2, y2), the layout every det op takes and returns.
 * - `xywh`: top-left corner plus size (x1, y1, w, h), COCO's annotation layout.
 * - `cxcywh`: center plus size (cx, cy, w, h), the layout box coders work in.
 */
export type BoxFormat = 'xyxy' | 'xywh' | 'cxcywh';

/** An image or feature-map size as `[height, width]` (mmdetection's `featmap_size`, `pad_shape`). */
export type Size2D = readonly [height: number, width: number];
