export const packageName = '@det/trainer';
