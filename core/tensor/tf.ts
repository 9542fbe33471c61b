/**
 * The one place polyalign imports TensorFlow.js from. `@tensorflow/tfjs`
 * brings tfjs-core with every gradient registered and the `cpu` backend, so
 * everything runs without tfjs-node. Model code uses the tfjs-core API only.
 */
import * as tf from "@tensorflow/tfjs";

export { tf };
export type Tensor = tf.Tensor;
export type Variable = tf.Variable;
export type Rank = tf.Rank;
export type DataType = tf.DataType;
