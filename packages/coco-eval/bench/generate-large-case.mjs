// Writes the benchmark case (never committed): 5000 images, the 80 COCO category ids,
// about 7 GT per image and 100 detections per image (500k), deterministic from a seed.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** COCO 2017's 80 category ids (1..90 with gaps). */
const COCO_CATEGORY_IDS = [
  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31,
  32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56,
  57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85,
  86, 87, 88, 89, 90,
];

/** mulberry32: a small deterministic PRNG. */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const round2 = (value) => Math.round(value * 100) / 100;

export function generateLargeCase({
  images = 5000,
  gtPerImage = 7,
  detsPerImage = 100,
  seed = 2024,
} = {}) {
  const rand = random(seed);
  const pick = (list) => list[Math.floor(rand() * list.length)];
  const gt = {
    info: { description: 'det coco-eval benchmark' },
    images: [],
    annotations: [],
    categories: [],
  };
  for (const id of COCO_CATEGORY_IDS)
    gt.categories.push({ id, name: `category-${id}`, supercategory: 'thing' });
  const dt = [];
  let annotationId = 1;
  for (let imageId = 1; imageId <= images; imageId++) {
    gt.images.push({
      id: imageId,
      width: 640,
      height: 480,
      file_name: `${String(imageId).padStart(12, '0')}.jpg`,
    });
    const count = Math.max(0, Math.round(gtPerImage + (rand() + rand() + rand() - 1.5) * 5));
    const objects = [];
    for (let g = 0; g < count; g++) {
      const w = round2(Math.exp(Math.log(6) + rand() * (Math.log(400) - Math.log(6))));
      const h = round2(Math.min(470, w * (0.5 + rand())));
      const box = [round2(rand() * (640 - w)), round2(rand() * (480 - h)), w, h];
      const categoryId = pick(COCO_CATEGORY_IDS);
      const iscrowd = rand() < 0.01 ? 1 : 0;
      gt.annotations.push({
        id: annotationId++,
        image_id: imageId,
        category_id: categoryId,
        bbox: box,
        area: round2(w * h * (0.55 + 0.4 * rand())),
        iscrowd,
      });
      objects.push({ box, categoryId });
    }
    for (let d = 0; d < detsPerImage; d++) {
      const object =
        objects.length > 0 && d < objects.length * 5 ? objects[d % objects.length] : undefined;
      if (object) {
        const [x, y, w, h] = object.box;
        const jitter = 0.25 * rand();
        dt.push({
          image_id: imageId,
          category_id: rand() < 0.9 ? object.categoryId : pick(COCO_CATEGORY_IDS),
          bbox: [
            round2(x + (rand() - 0.5) * jitter * w),
            round2(y + (rand() - 0.5) * jitter * h),
            round2(w * (1 + (rand() - 0.5) * jitter)),
            round2(h * (1 + (rand() - 0.5) * jitter)),
          ],
          score: Math.round((0.3 + 0.7 * rand()) * 1000) / 1000,
        });
      } else {
        const w = round2(4 + rand() * 200);
        const h = round2(4 + rand() * 200);
        dt.push({
          image_id: imageId,
          category_id: pick(COCO_CATEGORY_IDS),
          bbox: [round2(rand() * 600), round2(rand() * 440), w, h],
          score: Math.round(rand() * 0.5 * 1000) / 1000,
        });
      }
    }
  }
  return { gt, dt };
}

/** Generates into `dir` unless the files are already there; returns their paths. */
export function ensureLargeCase(dir, options = {}) {
  const gtFile = path.join(dir, 'gt.json');
  const dtFile = path.join(dir, 'dt.json');
  if (!existsSync(gtFile) || !existsSync(dtFile)) {
    mkdirSync(dir, { recursive: true });
    const { gt, dt } = generateLargeCase(options);
    writeFileSync(gtFile, JSON.stringify(gt));
    writeFileSync(dtFile, JSON.stringify(dt));
  }
  return { gtFile, dtFile };
}
