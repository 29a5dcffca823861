// Package gpt2 runs GPT-2 and the ViT-GPT2 image captioner, matching
// HuggingFace transformers.
//
// [Model] is GPT-2 (transformers' GPT2LMHeadModel): Conv1D weights in their
// [in, out] layout, learned position embeddings, pre-LN blocks, a final
// ln_f and an LM head tied to the token embeddings. Built with
// add_cross_attention, every block also attends to an encoder output
// (crossattention, ln_cross_attn), which is how vision-encoder-decoder
// checkpoints use it. [Model.Generate] decodes greedily or with beam search
// exactly as transformers' generate does, running the searches of package
// [github.com/goformer/goformer/generate] (BeamSearchScorer semantics:
// 2·beams candidates, length penalty, early stopping true/false/"never",
// no_repeat_ngram_size, min_length, repetition_penalty,
// forced_eos_token_id) over a per-call KV cache ([State]).
//
// [Captioner] is a VisionEncoderDecoderModel with a ViT encoder and a GPT-2
// decoder, such as nlpconnect/vit-gpt2-image-captioning: [LoadCaptioner]
// reads the Hub directory (config.json, generation_config.json,
// preprocessor_config.json, weights, GPT-2 tokenizer), and
// [Captioner.Caption] preprocesses an image with its imageproc.Processor
// (see [Captioner.WithProcessor]), encodes it, decodes from
// decoder_start_token_id until eos_token_id or the length limit, and
// returns the text without special tokens.
//
// Loaded with [WithDevice], a model keeps its weights on that device and
// runs there: pixels are uploaded, token embeddings are gathered on the
// device, and generation downloads the next-token logits once per step;
// the searches themselves run on the host.
//
// Models are immutable after loading and safe for concurrent use.
package gpt2
