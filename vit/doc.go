// Package vit runs Vision Transformer image classifiers
// (google/vit-base-patch16-224 and other transformers ViTForImageClassification
// or ViTModel checkpoints) and provides the image preprocessing shared by
// goformer's vision models (ViT, CLIP, BLIP, ViT-GPT2).
//
// # Images
//
// DecodeImage reads JPEG (applying its EXIF orientation), PNG, GIF (first
// frame), BMP and WebP, checking the declared pixel count before decoding
// (ErrImageTooLarge). A Processor, built from a preprocessor_config.json
// (LoadProcessor, ParseProcessorConfig), turns any image.Image into the
// pixel_values tensor transformers would compute: conversion to RGB with
// PIL's convert("RGB") rules, resizing with Pillow's resampling filters in
// its 8-bit fixed-point arithmetic (horizontal pass, then vertical, each
// rounded and clipped to uint8), shortest-edge resizing and center
// cropping with transformers' offsets, rescaling and normalization in
// float32. On the reference fixtures (PNG inputs) the result is
// bit-identical to transformers' ViT, CLIP and BLIP image processors. JPEG
// chroma is upsampled and converted to RGB as libjpeg does for PIL; what
// remains is Go's IDCT, which can differ from libjpeg's by one level on some
// pixels. Lossy WebP colors are those of Go's decoder, a few levels from
// libwebp's.
//
// # Models
//
// Load reads a Hub-layout model directory (config.json, model.safetensors or
// pytorch_model.bin, preprocessor_config.json). Model.Classify and
// Model.ClassifyBatch return the top-k labels with softmax scores;
// Model.Forward returns logits, the pooled output and the hidden states for
// embedding use, optionally with position embeddings interpolated for other
// resolutions (Options.InterpolatePosEncoding).
//
// Encoder is the vision transformer itself (patch embedding, class token,
// position embeddings, pre-LN blocks, final norm). NewEncoder reads ViT's
// weight names under any prefix; its fields are exported so that other
// families can fill it from their own names and reuse its forward pass.
//
// Models, encoders and processors are immutable after construction and
// safe for concurrent use.
package vit
