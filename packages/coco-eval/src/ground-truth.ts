import {
  asRecord,
  parseJson,
  requireArray,
  requireBox,
  requireFlag,
  requireNumber,
} from './validate';

/** One GT annotation as the evaluator reads it. */
export interface GroundTruthAnnotation {
  id: number;
  imageId: number;
  categoryId: number;
  /** `[x, y, width, height]`. */
  bbox: [number, number, number, number];
  /** The annotation's own `area` field; pycocotools never derives it from the bbox. */
  area: number;
  iscrowd: boolean;
}

export interface CocoCategory {
  id: number;
  name?: string;
  [key: string]: unknown;
}

export interface CocoGroundTruthOptions {
  /** A parsed COCO dataset (`images`, `annotations`, `categories`). */
  dataset: unknown;
  /** File name used in error messages. */
  source?: string;
}

/**
 * The ground-truth index of pycocotools' `COCO` class: images, annotations and
 * categories, with annotations indexed by image. Unknown fields are ignored; the
 * `ignore` field is thrown away just as `COCOeval._prepare` does.
 */
export class CocoGroundTruth {
  readonly source: string | undefined;
  /** Distinct image ids, in file order. */
  readonly imageIds: number[];
  /** Category ids in file order (duplicates kept, as `COCO.getCatIds()`). */
  readonly categoryIds: number[];
  readonly categories: CocoCategory[];
  readonly annotations: GroundTruthAnnotation[];
  /**
   * For each annotation, the index of the annotation that `COCO.loadAnns` returns for its
   * id: the last one with that id (`self.anns` is a dict), which differs only when ids repeat.
   */
  readonly resolvedIndex: Int32Array;
  readonly hasDuplicateAnnotationIds: boolean;
  private readonly imageIdSet: Set<number>;
  private readonly byImage = new Map<number, number[]>();

  constructor(options: CocoGroundTruthOptions) {
    const source = options.source;
    this.source = source;
    const dataset = asRecord(options.dataset, { source, label: 'ground truth' });
    const where = { source, label: 'ground truth' };
    const images = requireArray(dataset, 'images', where);
    const annotations = requireArray(dataset, 'annotations', where);
    const categories = requireArray(dataset, 'categories', where);

    this.imageIdSet = new Set();
    this.imageIds = [];
    images.forEach((value, index) => {
      const image = asRecord(value, { source, label: `images[${index}]` });
      const id = requireNumber(image, 'id', { source, label: `images[${index}]` });
      if (!this.imageIdSet.has(id)) {
        this.imageIdSet.add(id);
        this.imageIds.push(id);
      }
    });

    this.categories = categories.map((value, index) => {
      const label = `categories[${index}]`;
      const category = asRecord(value, { source, label });
      requireNumber(category, 'id', { source, label });
      return category as CocoCategory;
    });
    this.categoryIds = this.categories.map((category) => category.id);

    const lastIndexById = new Map<number, number>();
    this.annotations = annotations.map((value, index) => {
      let label = `annotations[${index}]`;
      const record = asRecord(value, { source, label });
      const id = requireNumber(record, 'id', { source, label });
      label = `annotation id ${id} (annotations[${index}])`;
      const loc = { source, label };
      const annotation: GroundTruthAnnotation = {
        id,
        imageId: requireNumber(record, 'image_id', loc),
        categoryId: requireNumber(record, 'category_id', loc),
        bbox: requireBox(record, loc),
        area: requireNumber(record, 'area', loc),
        iscrowd: requireFlag(record, 'iscrowd', loc),
      };
      lastIndexById.set(id, index);
      let list = this.byImage.get(annotation.imageId);
      if (!list) {
        list = [];
        this.byImage.set(annotation.imageId, list);
      }
      list.push(index);
      return annotation;
    });
    this.resolvedIndex = new Int32Array(this.annotations.length);
    let duplicates = false;
    this.annotations.forEach((annotation, index) => {
      const resolved = lastIndexById.get(annotation.id) ?? index;
      if (resolved !== index) duplicates = true;
      this.resolvedIndex[index] = resolved;
    });
    this.hasDuplicateAnnotationIds = duplicates;
  }

  /** Parse a COCO ground-truth JSON text. */
  static fromJson(text: string, source?: string): CocoGroundTruth {
    return new CocoGroundTruth({ dataset: parseJson(text, source), source });
  }

  hasImage(imageId: number): boolean {
    return this.imageIdSet.has(imageId);
  }

  /** Indices into `annotations` of every annotation on this image, in file order. */
  annotationIndicesOfImage(imageId: number): readonly number[] {
    return this.byImage.get(imageId) ?? [];
  }
}
