export const packageName = '@det/losses';
