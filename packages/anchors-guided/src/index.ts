export const packageName = '@det/anchors-guided';
