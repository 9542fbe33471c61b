// Types for the parts of sentencepiece-js (no published types) that polyalign uses.
declare module "sentencepiece-js" {
  export class SentencePieceProcessor {
    load(path: string): Promise<void>;
    encodeIds(text: string): number[];
    encodePieces(text: string): string[];
    decodeIds(ids: number[]): string;
  }
  export function cleanText(text: string): string;
  const _default: { SentencePieceProcessor: typeof SentencePieceProcessor; cleanText: typeof cleanText };
  export default _default;
}
