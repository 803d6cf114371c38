// One winston logger per process, created in main and passed down: nothing logs through a global.
// JSON lines by default so log pipelines can index the decision fields; text for humans at a
// terminal. A redaction step guarantees that credentials never reach a log line, whatever a
// caller passes in.
import winston from 'winston';

export type LogFormat = 'json' | 'text';
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

export interface Logger {
  error(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
}

const SECRET_KEY = /token|authorization|password|secret|bearer|client-?key|credential/i;
const BEARER_VALUE = /Bearer\s+[A-Za-z0-9._~+/=-]+/g;

/** Replaces credential-looking fields and bearer tokens inside strings with "[REDACTED]". */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.replace(BEARER_VALUE, 'Bearer [REDACTED]');
  if (depth > 8 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  if (value instanceof Error) return redact(value.message, depth + 1);
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    result[key] = SECRET_KEY.test(key) ? '[REDACTED]' : redact(item, depth + 1);
  }
  return result;
}

const redaction = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (key === 'level' || key === 'timestamp') continue;
    const value = (info as Record<string, unknown>)[key];
    (info as Record<string, unknown>)[key] = SECRET_KEY.test(key) ? '[REDACTED]' : redact(value);
  }
  return info;
});

function textLine(info: winston.Logform.TransformableInfo): string {
  const { level, message, timestamp, ...fields } = info as Record<string, unknown>;
  const rest = Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${typeof value === 'string' && !/\s/.test(value) ? value : JSON.stringify(value)}`)
    .join(' ');
  return `${String(timestamp)} ${String(level).toUpperCase().padEnd(5)} ${String(message)}${rest ? ` ${rest}` : ''}`;
}

export interface LoggerOptions {
  format: LogFormat;
  level: LogLevel;
  /** Where lines go; stderr by default, so `meshinit inject` output on stdout stays clean. */
  stream?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const format = options.format === 'json'
    ? winston.format.combine(winston.format.timestamp(), redaction(), winston.format.json())
    : winston.format.combine(winston.format.timestamp(), redaction(), winston.format.printf(textLine));
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console({ stderrLevels: [...LOG_LEVELS] });
  const logger = winston.createLogger({ level: options.level, format, transports: [transport] });
  return {
    error: (message, fields) => logger.error(message, fields ?? {}),
    warn: (message, fields) => logger.warn(message, fields ?? {}),
    info: (message, fields) => logger.info(message, fields ?? {}),
    debug: (message, fields) => logger.debug(message, fields ?? {}),
  };
}

/** A logger that keeps lines in memory, for tests. */
export function createMemoryLogger(): Logger & { lines: Array<{ level: LogLevel; message: string; fields: Record<string, unknown> }> } {
  const lines: Array<{ level: LogLevel; message: string; fields: Record<string, unknown> }> = [];
  const push = (level: LogLevel) => (message: string, fields?: Record<string, unknown>) => {
    lines.push({ level, message, fields: redact(fields ?? {}) as Record<string, unknown> });
  };
  return { lines, error: push('error'), warn: push('warn'), info: push('info'), debug: push('debug') };
}
