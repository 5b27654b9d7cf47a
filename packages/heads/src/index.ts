export const packageName = '@det/heads';
