export * from "./scene.ts";
export * from "./render.ts";
export * from "./language.ts";
export * from "./build.ts";
export * from "./ensure.ts";
