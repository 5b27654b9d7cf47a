/**
 * Python's `'{:0.Nf}'.format(x)`: the exact binary value rounded to N decimals, with
 * exact ties going to the even digit. JavaScript's `toFixed` sends ties up instead, which
 * only matters for values that are odd multiples of 2^-(N+1) (e.g. 0.0625 at N=3).
 */
export function formatFixed(value: number, digits: number): string {
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : value < 0 ? '-inf' : 'nan';
  const magnitude = Math.abs(value);
  const scaled = magnitude * 2 ** (digits + 1);
  let text = magnitude.toFixed(digits);
  if (
    Number.isInteger(scaled) &&
    scaled % 2 === 1 &&
    Number.isInteger(magnitude * 10 ** digits * 2)
  ) {
    // Exact tie: toFixed rounded away from zero; step back when that made the last digit odd.
    const lastDigit = Number(text[text.length - 1]);
    if (lastDigit % 2 === 1) text = (magnitude - 0.5 * 10 ** -digits).toFixed(digits);
  }
  const negative = value < 0 || Object.is(value, -0);
  return negative ? `-${text}` : text;
}
