/**
 * The composed model and its step, with objectives of the spec's own: where
 * an objective's parameters are mounted and in which order they are drawn
 * (online parameters in config order, then momentum copies, then buffers —
 * ALBEF's order), momentum copies, the weighted loss and each phase's order,
 * and a model that an objective refuses leaving nothing allocated.
 */
import assert from "node:assert/strict";
import {
  AlignmentStep,
  ConfigError,
  constant,
  createLogger,
  Fusion,
  Linear,
  type Module,
  type Objective,
  type ObjectiveBuilder,
  prepareRun,
  Rng,
  type RunScope,
  type StepContext,
  type Tensor,
  TextEncoder,
  tf,
  VisionEncoder,
  VisionLanguageModel,
} from "../../../core/index.ts";
import { builtinRegistry } from "../../../plugins/index.ts";
import { useTestBackend } from "../../helpers.ts";
import { tinyModelConfig } from "../../tiny-model.ts";

/** An objective that logs what it does: a head (with momentum copy), a scale and a buffer; its loss is weight · mean(head(CLS)). */
class ToyObjective implements Objective {
  head: Linear | null = null;
  scale: tf.Variable | null = null;
  queue: tf.Variable | null = null;
  constructor(
    readonly name: string,
    readonly weight: number,
    readonly log: string[],
    readonly refuse = false,
  ) {}
  build(b: ObjectiveBuilder): void {
    if (this.refuse) throw new ConfigError(`${this.name} refuses this model`, "objectives");
    this.head = b.module(
      `${this.name}_head`,
      (rng) => {
        this.log.push(`create ${this.name}_head (state ${rng.getState().join(",")})`);
        return new Linear(b.widths.fusion, 1, rng);
      },
      { momentum: true },
    );
    this.scale = b.parameter(`${this.name}_scale`, [], constant(2));
    this.queue = b.buffer(`${this.name}_queue`, [3], "float32", (rng) => {
      this.log.push(`init ${this.name}_queue`);
      return tf.tensor1d([rng.uniform(), rng.uniform(), rng.uniform()]);
    });
  }
  prepare(step: StepContext): void {
    this.log.push(`prepare ${this.name}`);
    step.momentumImage();
  }
  loss(step: StepContext): Tensor {
    this.log.push(`loss ${this.name}`);
    const { imageEmbeds, textEmbeds } = step.online();
    const fused = step.model.fuse(textEmbeds, step.batch.mask, imageEmbeds);
    const cls = tf.squeeze(tf.slice(fused, [0, 0, 0], [-1, 1, -1]), [1]);
    return tf.mul(tf.mean(this.head!.forward(cls)), this.scale!);
  }
  finish(): void {
    this.log.push(`finish ${this.name}`);
  }
}

async function scope(): Promise<RunScope> {
  return (await prepareRun(builtinRegistry(), tinyModelConfig({ name: "cross-attention" }), { log: createLogger({ level: "error" }) })).scope;
}

function parts(s: RunScope, suffix = "") {
  const m = s.config.model!;
  return {
    vision: s.create(VisionEncoder, m.vision, `model.vision${suffix}`),
    text: s.create(TextEncoder, m.text, `model.text${suffix}`),
    fusion: s.create(Fusion, m.fusion, `model.fusion${suffix}`),
  };
}

/** A model of the tiny encoders with two toy objectives, `a` (weight 1) and `b` (weight 0.5), logging into `log`. */
async function twoToys() {
  const s = await scope();
  const log: string[] = [];
  const a = new ToyObjective("a", 1, log);
  const b = new ToyObjective("b", 0.5, log);
  const model = new VisionLanguageModel(parts(s), {
    objectives: [a, b],
    setting: { batchSize: 2, imageIds: false },
    momentum: parts(s, "_m"),
    rng: new Rng(9),
  });
  return { model, a, b, log };
}

describe("core/model: the composed model and its step", () => {
  before(useTestBackend);

  it("mounts each objective's parameters at the root, drawn in ALBEF's order: online parameters, momentum copies, buffers", async () => {
    const { model, a, log } = await twoToys();
    assert.deepEqual(
      log.map((l) => l.replace(/ \(.*\)/, "")),
      ["create a_head", "create b_head", "create a_head", "create b_head", "init a_queue", "init b_queue"],
    );
    // the momentum copies come from the same stream, after both online heads
    assert.notEqual(log[0].match(/\(.*\)/)?.[0], log[2].match(/\(.*\)/)?.[0]);
    const children = [...model.children()].map(([n]) => n);
    assert.deepEqual(children, [
      "visual_encoder",
      "text_encoder",
      "fusion",
      "a_head",
      "b_head",
      "visual_encoder_m",
      "text_encoder_m",
      "fusion_m",
      "a_head_m",
      "b_head_m",
    ]);
    const kinds = new Map([...model.stateEntries()].map(([n, , meta]) => [n, meta.kind]));
    assert.equal(kinds.get("a_scale"), "parameter");
    assert.equal(kinds.get("b_queue"), "buffer");
    assert.equal(model.momentumOf(a.head!), [...model.children()].find(([n]) => n === "a_head_m")![1]);
    const trainable = new Set([...model.trainable()].map(([n]) => n));
    assert.ok(trainable.has("a_head.weight") && trainable.has("b_scale") && !trainable.has("a_head_m.weight") && !trainable.has("visual_encoder_m.cls_token"));
    // the copies start equal and follow the EMA
    const on = a.head!.weight;
    const mo = model.momentumOf(a.head!).weight;
    assert.deepEqual(Array.from(mo.dataSync()), Array.from(on.dataSync()));
    tf.tidy(() => on.assign(tf.add(on, 1)));
    model.momentumUpdate(0.75);
    const moved = mo.dataSync();
    on.dataSync().forEach((v, i) => assert.ok(Math.abs(moved[i] - (v - 1 + 0.25)) < 1e-6));
    assert.equal(model.embedding, null);
    assert.throws(() => model.requireEmbedding("ranking"), /ranking needs an objective with an image-text embedding/);
    model.dispose();
  });

  it("a step prepares, takes the weighted loss and finishes each objective in config order; momentum encodings once", async () => {
    const { model, log } = await twoToys();
    const batch = {
      images: tf.randomNormal([2, 3, 16, 16], 0, 1, "float32", 1),
      ids: tf.tensor2d(
        [
          [1, 5, 6],
          [1, 7, 0],
        ],
        [2, 3],
        "int32",
      ),
      mask: tf.tensor2d(
        [
          [1, 1, 1],
          [1, 1, 0],
        ],
        [2, 3],
        "int32",
      ),
    };
    const recorded: string[] = [];
    const before = tf.memory().numTensors;
    const step = new AlignmentStep(model, batch, {
      alpha: 0.4,
      rng: new Rng(1),
      special: { pad: 0, cls: 1, sep: 2, mask: 3, unk: 4 },
      vocabSize: 40,
      record: (n) => recorded.push(n),
    });
    log.length = 0;
    step.prepare();
    const parts2: Record<string, number> = {};
    const total = tf.tidy(() => step.loss(parts2).dataSync()[0]);
    step.finish();
    assert.deepEqual(log, ["prepare a", "prepare b", "loss a", "loss b", "finish a", "finish b"]);
    assert.ok(Math.abs(total - (parts2.a + 0.5 * parts2.b)) < 1e-6, `${total} = ${parts2.a} + 0.5 · ${parts2.b}`);
    assert.equal(recorded.filter((n) => n === "image_embeds_m").length, 1, "the momentum image tokens are computed once for both objectives");
    assert.equal(tf.memory().numTensors, before, "the step frees what it kept");
    tf.dispose([batch.images, batch.ids, batch.mask]);
    model.dispose();
  });

  it("an objective that refuses the model leaves nothing allocated", async () => {
    const s = await scope();
    // the fusion plugin reads the widths of the run's own encoders: those belong to the run, not to the model
    s.resolve(TextEncoder);
    s.resolve(VisionEncoder);
    const before = tf.memory().numTensors;
    const online = parts(s);
    const momentum = parts(s, "_m");
    const log: string[] = [];
    assert.throws(
      () =>
        new VisionLanguageModel(online, {
          objectives: [new ToyObjective("a", 1, log), new ToyObjective("b", 1, log, true)],
          setting: { batchSize: 2, imageIds: false },
          momentum,
          rng: new Rng(9),
        }),
      /b refuses this model/,
    );
    assert.equal(tf.memory().numTensors, before);
  });

  it("without momentum encoders, an objective's momentum copy is refused", async () => {
    const s = await scope();
    const online = parts(s) as { vision: Module & VisionEncoder; text: TextEncoder; fusion: Fusion };
    assert.throws(
      () => new VisionLanguageModel(online, { objectives: [new ToyObjective("a", 1, [])], setting: { batchSize: 2, imageIds: false }, rng: new Rng(9) }),
      /asks for momentum copies of its parameters, but the model has no momentum encoders/,
    );
  });
});
