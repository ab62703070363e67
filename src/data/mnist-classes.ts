/** The digits' class names (the built-in digits themselves are read in Node: src/node/mnist.ts). */
export const MNIST_CLASSES = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
