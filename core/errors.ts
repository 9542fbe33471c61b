/**
 * Every error polyalign raises on bad input names what was wrong and where
 * (a config path, a file, a plugin name, a sample key).
 */
export class PolyalignError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A config file or override that does not fit the schema. `path` is dotted (`model.fusion.knn`). */
export class ConfigError extends PolyalignError {
  constructor(
    message: string,
    readonly path: string = "",
    readonly file: string = "",
  ) {
    super(message);
  }
}

/** An unknown, duplicate or broken plugin. */
export class PluginError extends PolyalignError {}

/** A checkpoint that cannot be read, written or loaded into a model. */
export class CheckpointError extends PolyalignError {
  constructor(
    message: string,
    readonly file: string = "",
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Wrong shapes or dtypes handed to a layer. */
export class ShapeError extends PolyalignError {}

/** Wrong command-line usage; the CLI prints the message and the command's help. */
export class UsageError extends PolyalignError {}

/** Input data that cannot be used: a sample or file lacking what a task needs (the message names where). */
export class DataError extends PolyalignError {}

/** A run stopped by SIGINT or SIGTERM after writing a checkpoint; the process exits 128 + the signal's number (130, 143). */
export class InterruptedError extends PolyalignError {
  constructor(
    message: string,
    readonly signal: "SIGINT" | "SIGTERM",
  ) {
    super(message);
  }
  get exitCode(): number {
    return this.signal === "SIGINT" ? 130 : 143;
  }
}
