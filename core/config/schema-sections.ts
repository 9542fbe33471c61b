/** The plugin-section shapes the root schema and other sections share. */
import { z } from "zod";

export const PluginSection = z.looseObject({ name: z.string().min(1) });
export type PluginSection = z.infer<typeof PluginSection>;

export const ModelSection = z.strictObject({
  vision: PluginSection,
  text: PluginSection,
  fusion: PluginSection,
});
