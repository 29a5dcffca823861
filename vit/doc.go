// Package vit runs Vision Transformer image classifiers
// (google/vit-base-patch16-224 and other transformers ViTForImageClassification
// or ViTModel checkpoints) and provides the ViT encoder shared by goformer's
// vision models (ViT, CLIP, BLIP, BLIP-2, ViT-GPT2, LLaVA).
//
// Images are decoded and turned into pixel values by package imageproc
// (imageproc.Decode, imageproc.Processor), which reproduces transformers'
// image processors exactly.
//
// # Models
//
// Load reads a Hub-layout model directory (config.json, model.safetensors or
// pytorch_model.bin, preprocessor_config.json). Model.Classify and
// Model.ClassifyBatch return the top-k labels with softmax scores;
// Model.Forward returns logits, the pooled output and the hidden states for
// embedding use, optionally with position embeddings interpolated for other
// resolutions (Options.InterpolatePosEncoding). Model.WithProcessor returns
// a copy of the model that preprocesses images with another processor.
//
// Encoder is the vision transformer itself (patch embedding, class token,
// position embeddings, pre-LN blocks, final norm). NewEncoder reads ViT's
// weight names under any prefix; its fields are exported so that other
// families can fill it from their own names and reuse its forward pass.
//
// # Devices
//
// With WithDevice (nn.WithDevice) the weights are uploaded and packed on a
// tensor.Device at load, and the whole forward pass (embeddings, the
// bicubic resizing of the position embeddings, the blocks, the pooler and
// the classifier) runs there: pixel values go up once per call, Forward's
// outputs stay on the device, and Classify brings only the logits down.
// The ViT encoders of the other vision families run on their store's
// device the same way.
//
// Models and encoders are immutable after construction and safe for
// concurrent use.
package vit
