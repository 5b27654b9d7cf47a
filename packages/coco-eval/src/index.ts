export const packageName = '@det/coco-eval';
