export const packageName = '@det/detectors';
