/**
 * `polyalign reference-forward`: one deterministic ALBEF pre-training forward
 * and training step from weights named as ALBEF's state dict, writing every
 * intermediate, the gradients and the post-step state under the names of
 * ../shared/fixtures/albef-tiny/README.md — for checking polyalign against
 * ALBEF itself or any other implementation.
 */
import {
  activateBackend,
  AdamW,
  adaptPosEmbeds,
  albefNameMap,
  AlignmentStep,
  buildVisionLanguageModel,
  ConfigError,
  createRunScope,
  fromFloat32,
  fromInt,
  loadConfig,
  loadStateDict,
  moduleToStored,
  readSafetensors,
  renameEntries,
  Rng,
  type StepRecorder,
  type StoredTensor,
  type Tensor,
  tf,
  toFloat32,
  toInt32,
  UsageError,
  validateConfig,
  writeSafetensors,
} from "../../core/index.ts";
import type { CliCommand, CliIo } from "../command.ts";
import { parseCommandArgs, requireString } from "../args.ts";

export interface OracleConfig {
  alpha: number;
  embed_dim: number;
  image_res: number;
  patch_size: number;
  vision_width: number;
  vit_depth: number;
  vit_heads: number;
  vit_mlp_ratio: number;
  queue_size: number;
  momentum: number;
  temp: number;
  mlm_probability: number;
  bert: {
    hidden_size: number;
    num_hidden_layers: number;
    fusion_layer: number;
    num_attention_heads: number;
    intermediate_size: number;
    vocab_size: number;
    max_position_embeddings: number;
    layer_norm_eps: number;
  };
  tokens: { cls_token_id: number; mask_token_id: number; pad_token_id: number; sep_token_id: number };
}

/** ALBEF's three objectives with the oracle's settings (ALBEF's defaults without an oracle config). */
function oracleObjectives(o: OracleConfig | null): Record<string, unknown>[] {
  return [
    {
      name: "itc",
      embedDim: o?.embed_dim ?? 256,
      queue: o?.queue_size ?? 65536,
      momentum: o?.momentum ?? 0.995,
      temp: o?.temp ?? 0.07,
      alpha: o?.alpha ?? 0.4,
    },
    { name: "itm" },
    { name: "mlm", probability: o?.mlm_probability ?? 0.15 },
  ];
}

/** The polyalign config of the oracle's model: ViT, BERT split at its fusion layer, ALBEF's cross-attention fusion, ITC/ITM/MLM with its settings. */
export function configFromOracle(o: OracleConfig): Record<string, unknown> {
  const b = o.bert;
  return {
    backend: "auto",
    objectives: oracleObjectives(o),
    model: {
      vision: {
        name: "vit",
        imageSize: o.image_res,
        patch: o.patch_size,
        width: o.vision_width,
        depth: o.vit_depth,
        heads: o.vit_heads,
        mlpRatio: o.vit_mlp_ratio,
      },
      text: {
        name: "bert",
        vocab: b.vocab_size,
        width: b.hidden_size,
        layers: b.fusion_layer,
        heads: b.num_attention_heads,
        intermediate: b.intermediate_size,
        maxPositions: b.max_position_embeddings,
        eps: b.layer_norm_eps,
        dropout: 0,
      },
      fusion: {
        name: "cross-attention",
        layers: b.num_hidden_layers - b.fusion_layer,
        heads: b.num_attention_heads,
        intermediate: b.intermediate_size,
        eps: b.layer_norm_eps,
        dropout: 0,
      },
    },
  };
}

function stored(t: Tensor): StoredTensor {
  const shape = [...t.shape];
  return t.dtype === "int32" ? fromInt(t.dataSync() as Int32Array, shape, "I64") : fromFloat32(Float32Array.from(t.dataSync()), shape);
}

export async function referenceForward(
  args: { weights: string; inputs: string; config?: string; lr?: number; weightDecay?: number },
  io: CliIo,
): Promise<{ outputs: Map<string, StoredTensor>; grads: Map<string, StoredTensor>; state: Map<string, StoredTensor> }> {
  const weights = readSafetensors(args.weights);
  const inputs = readSafetensors(args.inputs).tensors;
  const oracleJson = weights.metadata.albef_oracle_config;
  const oracle: OracleConfig | null = oracleJson ? (JSON.parse(oracleJson) as OracleConfig) : null;
  let raw: Record<string, unknown>;
  if (args.config) raw = { objectives: oracleObjectives(oracle), ...loadConfig(args.config).raw };
  else if (oracle) raw = configFromOracle(oracle);
  else throw new ConfigError(`${args.weights} has no albef_oracle_config metadata; pass --config`, "", args.weights);
  const config = validateConfig(raw, io.registry);
  const scope = createRunScope(io.registry, config, io.log);
  await activateBackend(scope);
  const names = albefNameMap(Number(config.model!.text.layers));
  const get = (k: string) => inputs.get(k);
  const must = (k: string) => {
    const t = get(k);
    if (!t) throw new UsageError(`${args.inputs} has no "${k}"`);
    return t;
  };
  const idsT = must("input_ids");
  const [b, l] = idsT.shape;
  const model = buildVisionLanguageModel(scope, { batchSize: b, imageIds: false });
  model.eval();
  // a checkpoint from another resolution gets its position embeddings interpolated, as ALBEF does
  const renamed = adaptPosEmbeds(model, renameEntries(weights.tensors, names.fromAlbef));
  loadStateDict(model, renamed, { source: args.weights, ignore: (n) => n.endsWith("position_ids") });

  const img = must("image");
  const images = tf.tensor(toFloat32(img), img.shape);
  const ids = tf.tensor(toInt32(idsT), [b, l], "int32");
  const mask = tf.tensor(get("attention_mask") ? toInt32(must("attention_mask")) : new Int32Array(b * l).fill(1), [b, l], "int32");
  const alpha = get("alpha") ? toFloat32(must("alpha"))[0] : (oracle?.alpha ?? 0.4);
  // the queues the step starts from, when the inputs give them
  const state = new Map([...model.stateEntries()].map(([n, v]) => [n, v]));
  for (const key of ["image_queue", "text_queue", "queue_ptr"]) {
    const q = get(key);
    const v = state.get(key);
    if (q && v) tf.tidy(() => v.assign(v.dtype === "int32" ? tf.tensor(toInt32(q), q.shape, "int32") : tf.tensor(toFloat32(q), q.shape)));
  }
  const negatives = (k: string) => (get(k) ? toInt32(must(k)) : Int32Array.from({ length: b }, (_, i) => (i + 1) % b));
  const fixed = new Map<string, Int32Array>([
    ["mlm_mask", toInt32(must("mlm_mask"))],
    ["neg_image_idx", negatives("neg_image_idx")],
    ["neg_text_idx", negatives("neg_text_idx")],
  ]);
  if (get("mlm_replace_ids")) fixed.set("mlm_replace_ids", toInt32(must("mlm_replace_ids")));

  const outputs = new Map<string, StoredTensor>();
  const record: StepRecorder = (name, value) => {
    if (typeof value === "number") outputs.set(name, fromFloat32(new Float32Array([value]), []));
    else if ("data" in value && !(value instanceof tf.Tensor)) outputs.set(name, fromInt(value.data, value.shape, "I64"));
    else outputs.set(name, stored(value as Tensor));
  };
  const tokens = oracle?.tokens;
  const step = new AlignmentStep(
    model,
    { images, ids, mask },
    {
      alpha,
      rng: new Rng(0),
      special: {
        pad: tokens?.pad_token_id ?? 0,
        cls: tokens?.cls_token_id ?? 101,
        sep: tokens?.sep_token_id ?? 102,
        mask: tokens?.mask_token_id ?? 103,
        unk: 100,
      },
      vocabSize: model.text_encoder.vocabSize ?? 30522,
      fixed,
      record,
    },
  );
  step.prepare();
  const trainable = [...model.trainable()];
  const { value, grads } = tf.variableGrads(
    () => {
      const loss = step.loss();
      record("loss", loss);
      return loss;
    },
    trainable.map(([, v]) => v),
  );
  const byName: Record<string, Tensor> = {};
  const gradsOut = new Map<string, StoredTensor>();
  for (const [name, v] of trainable) {
    byName[name] = grads[v.name];
    gradsOut.set(names.toAlbef(name), stored(grads[v.name]));
  }
  // The oracle's unimodal embeddings of this step (before the update) feed the extra ITM pairs below.
  const pairs = get("itm_pairs");
  const unimodal = pairs ? tf.tidy(() => ({ image: model.encodeImage(images), text: model.encodeText(ids, mask) })) : undefined;
  const optimizer = new AdamW(trainable, { lr: args.lr ?? 1e-4, weightDecay: args.weightDecay ?? 0.02 });
  optimizer.apply(byName);
  step.finish();
  // Extra ITM pairs, scored as ALBEF's oracle scored them: after the step — fusion layers and ITM head as
  // updated by AdamW — on the unimodal embeddings computed before it.
  if (pairs && unimodal) {
    const matching = model.requireMatching("itm_pairs");
    tf.tidy(() => {
      const p = toInt32(pairs);
      const n = pairs.shape[0];
      const ti = tf.tensor1d(
        Array.from({ length: n }, (_, i) => p[2 * i]),
        "int32",
      );
      const ii = tf.tensor1d(
        Array.from({ length: n }, (_, i) => p[2 * i + 1]),
        "int32",
      );
      const pairMask = tf.gather(mask, ti);
      const fused = model.fuse(tf.gather(unimodal.text, ti), pairMask, tf.gather(unimodal.image, ii));
      const cls = tf.squeeze(tf.slice(fused, [0, 0, 0], [-1, 1, -1]), [1]);
      const logits = matching.matchLogits(fused, pairMask);
      record("pair_indices", { data: p, shape: [n, 2] });
      record("pair_fusion_cls", cls);
      record("pair_itm_logits", logits);
      record("pair_itm_prob", tf.squeeze(tf.slice(tf.softmax(logits, -1), [0, 1], [-1, 1]), [1]));
    });
    tf.dispose([unimodal.image, unimodal.text]);
  }
  const after = new Map<string, StoredTensor>();
  for (const [name, t] of moduleToStored(model)) after.set(names.toAlbef(name), t);
  tf.dispose([value, ...Object.values(grads), images, ids, mask]);
  optimizer.dispose();
  model.dispose();
  return { outputs, grads: gradsOut, state: after };
}

export const referenceForwardCommand: CliCommand = {
  name: "reference-forward",
  summary: "one deterministic ALBEF pre-training step from ALBEF-named weights (for cross-checks)",
  help: `usage: polyalign reference-forward --weights W.safetensors --inputs I.safetensors --out O.safetensors
                                   [--grads-out G.safetensors] [--state-out S.safetensors] [--config FILE]

Reads weights by ALBEF's state-dict names (model shape from the file's
albef_oracle_config metadata, or --config), runs one pre-training forward with
dropout off — MLM positions and tokens and ITM negatives taken from the inputs —
then the backward pass, one AdamW step (lr 1e-4, weight decay 0.02 except 1-D
and *.bias), the momentum update and the enqueue; extra --inputs itm_pairs are
scored after the step (updated fusion layers and ITM head) on the step's
unimodal embeddings, as ALBEF's oracle does. Writes every intermediate
(O), the gradients by first state-dict name (G) and the post-step state (S)
under the keys of ../shared/fixtures/albef-tiny/README.md.`,
  async run(args, io) {
    const { values } = parseCommandArgs("reference-forward", args, {
      weights: { type: "string" },
      inputs: { type: "string" },
      out: { type: "string" },
      "grads-out": { type: "string" },
      "state-out": { type: "string" },
      config: { type: "string" },
    });
    const r = await referenceForward(
      {
        weights: requireString("reference-forward", values, "weights"),
        inputs: requireString("reference-forward", values, "inputs"),
        config: values.config as string | undefined,
      },
      io,
    );
    writeSafetensors(requireString("reference-forward", values, "out"), r.outputs);
    if (typeof values["grads-out"] === "string") writeSafetensors(values["grads-out"], r.grads);
    if (typeof values["state-out"] === "string") writeSafetensors(values["state-out"], r.state);
    io.out(`${r.outputs.size} outputs, ${r.grads.size} gradients, ${r.state.size} state tensors written`);
    return 0;
  },
};
