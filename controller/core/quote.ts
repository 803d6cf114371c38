// Quoting untrusted values inside messages: short, and never a throw (cycles, BigInt, deep nesting,
// objects whose toString is not a function).

export function quote(value: unknown): string {
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'a list' : 'an object';
  if (typeof value === 'function' || typeof value === 'symbol') return typeof value;
  try {
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return typeof value;
  }
}
