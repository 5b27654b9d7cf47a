export const packageName = '@det/proposal-finetuner';
