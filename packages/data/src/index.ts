export const packageName = '@det/data';
