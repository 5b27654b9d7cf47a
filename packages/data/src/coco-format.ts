import { z } from 'zod';

/** COCO instances JSON as written by the reference tools (only the fields detection needs). */
export interface CocoImage {
  id: number;
  file_name: string;
  width: number;
  height: number;
}

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  /** [x, y, width, height] in pixels, top-left origin. */
  bbox: [number, number, number, number];
  area: number;
  iscrowd: 0 | 1;
}

export interface CocoCategory {
  id: number;
  name: string;
  supercategory: string;
}

export interface CocoInstances {
  info?: Record<string, unknown>;
  images: CocoImage[];
  annotations: CocoAnnotation[];
  categories: CocoCategory[];
}

// Per-entry schemas: entries are parsed one at a time so a problem can name the entry's id.
// Numbers are not required finite here; the semantic checks report non-finite values by field.
export const cocoImageSchema = z.looseObject({
  id: z.number(),
  file_name: z.string().min(1),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
});

export const cocoAnnotationSchema = z.looseObject({
  id: z.number(),
  image_id: z.number(),
  category_id: z.number(),
  bbox: z.array(z.unknown()).length(4),
  area: z.number().optional(),
  iscrowd: z.union([z.literal(0), z.literal(1), z.boolean()]).optional(),
});

export const cocoCategorySchema = z.looseObject({
  id: z.number(),
  name: z.string(),
  supercategory: z.string().optional(),
});

export const cocoInstancesSchema = z.looseObject({
  images: z.array(z.unknown()),
  annotations: z.array(z.unknown()).optional(),
  categories: z.array(z.unknown()),
});
