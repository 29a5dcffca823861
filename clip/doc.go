// Package clip runs OpenAI's CLIP (HuggingFace CLIPModel) in pure Go: text
// and image embeddings, caption–image similarity, zero-shot image
// classification and text-to-image search over a saved embedding index.
//
// Load accepts a Hub-layout model directory (config.json, model.safetensors
// or pytorch_model.bin, preprocessor_config.json, tokenizer files) and
// OpenAI's original checkpoints (ViT-B-32.pt and the like: TorchScript
// archives, or plain torch.save state dicts with OpenAI's parameter names),
// whose names are mapped and whose configuration is inferred from tensor
// shapes as OpenAI's build_model does.
//
// The text tower is a causal pre-LN transformer pooled at the end-of-text
// token; the vision tower is a ViT whose class token is layer-normed and
// projected. Embeddings are L2-normalised and compared by a dot product
// scaled by exp(logit_scale), which is what CLIPModel computes.
//
// With WithDevice (nn.WithDevice) both towers run on a tensor.Device with
// their weights resident there from Load: the pixel values (and an
// attention mask with holes) go up, the pooled and projected rows come
// down. Similarities, zero-shot probabilities and index searches are
// computed on the host from those downloaded embeddings.
//
// A Model is immutable and safe for concurrent use.
package clip
