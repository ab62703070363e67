/** The model zoo: `export * as models from "./models/zoo/index.js"`. */
export { lenet5, lenetTheano, type LeNet5Options, type LeNetTheanoOptions } from "./lenet.js";
export { alexnet, zfnet, type AlexNetOptions, type ZFNetOptions } from "./alexnet.js";
export { vgg, vgg16, vgg19, VGG_CONFIGS, type VggConfig, type VggOptions } from "./vgg.js";
export { googlenet, googlenetLoss, type GoogLeNetOptions } from "./googlenet.js";
export { resnet, resnetCifar, plainCifar, type ResNetDepth, type ResNetCifarDepth, type ResNetOptions, type ResNetCifarOptions, type PlainCifarOptions } from "./resnet.js";
export { alphagoPolicy, type AlphaGoPolicyOptions } from "./alphago.js";
export { allConv, type AllConvOptions } from "./allconv.js";
export { textCnn, type TextCnnOptions } from "./textcnn.js";
export { MaskedConv2d, PositionBias, AdaptiveAvgPool2d, ShortcutPad, LENET_C3_CONNECTIONS } from "./layers.js";
export type { ZooOptions } from "./common.js";
export { torchvisionModel, recogniseTorchvisionArch, TORCHVISION_ARCHS, type TorchvisionArch, type TorchvisionModelOptions, type RecognisedArch } from "./torchvision.js";
