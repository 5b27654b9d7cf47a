export const packageName = '@det/core';
