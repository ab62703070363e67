/** Datasets, augmentation and batching: everything between files on disk and a training loop. */
export * from "./dataset.js";
export * from "./mnist-classes.js";
export * from "./idx.js";
export * from "./cifar.js";
export { ImageReadError, rgbaToChannels, resizeBilinear, prepareImage, DEFAULT_MAX_IMAGE_PIXELS, imageHeaderSize } from "./image-folder.js";
export type { DecodedImage, Channels, ImageOptions } from "./image-folder.js";
export * from "./normalize.js";
export * from "./augment.js";
export * from "./loader.js";
export * from "./imagenet-classes.js";
export * from "./polarity.js";
export * from "./text.js";
