export const packageName = '@det/backbone';
