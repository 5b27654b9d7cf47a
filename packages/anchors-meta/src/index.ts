export const packageName = '@det/anchors-meta';
