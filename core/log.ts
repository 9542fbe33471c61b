/**
 * A tiny structured logger: human lines on a TTY, JSON lines otherwise, so
 * that CI logs and run folders stay machine-readable.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LogSink {
  write(line: string): void;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(scope: string): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  json?: boolean;
  sink?: LogSink;
  scope?: string;
}

const stderrSink: LogSink = { write: (line) => process.stderr.write(line + "\n") };

function envLevel(): LogLevel {
  const v = (process.env.POLYALIGN_LOG ?? "").toLowerCase();
  return v in LEVELS ? (v as LogLevel) : "info";
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? envLevel();
  const json = opts.json ?? !process.stderr.isTTY;
  const sink = opts.sink ?? stderrSink;
  const scope = opts.scope ?? "polyalign";
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[lvl] < LEVELS[level]) return;
    if (json) {
      sink.write(JSON.stringify({ t: new Date().toISOString(), level: lvl, scope, msg, ...fields }));
    } else {
      const extra = fields && Object.keys(fields).length > 0 ? " " + JSON.stringify(fields) : "";
      sink.write(`[${scope}] ${lvl === "info" ? "" : lvl + ": "}${msg}${extra}`);
    }
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (s) => createLogger({ level, json, sink, scope: `${scope}:${s}` }),
  };
}

/** A logger that keeps lines in memory, for specs. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", json: true, sink: { write: (l) => lines.push(l) } });
  return Object.assign(logger, { lines });
}
