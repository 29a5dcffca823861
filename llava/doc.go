// Package llava runs LLaVA-1.5 (transformers' LlavaForConditionalGeneration
// as in llava-hf/llava-1.5-7b-hf), matching transformers 4.40: a CLIP
// vision tower, a two-layer projector and a Llama (Vicuna) language model
// that chats about images.
//
// An image is preprocessed by CLIP's image processor (336 px: bicubic
// resize of the shortest edge and a center crop), encoded by the CLIP
// vision tower (the shared encoder of package vit), and the hidden state
// of vision_feature_layer (−2: the input of its last layer) without the
// class token's row is projected (linear_1, GELU, linear_2) into the
// language model's embedding space. The prompt holds one <image> token per
// image; its embedding is replaced by the image's feature rows (576 at
// 336 px), and the language model (package llm) decodes from there: greedy
// or beam search, or sampling (temperature, top-k, top-p, seeded), with
// the answer streamed token by token.
//
// Conversations are written in LLaVA-1.5's chat format
// ("USER: <image>\n{question} ASSISTANT:"; see Template), tokenized by the
// Llama SentencePiece tokenizer of the checkpoint (package tokenizer,
// legacy flag honoured). Load reads a Hub-layout directory; New builds a
// model from a config and weights without owning them. F16 and BF16
// weights stay 16-bit. With nn.WithDevice the model keeps its weights on
// that device and computes there (pixel values are uploaded, only the
// logits of each decoding step come back); Load makes every weight
// resident before it returns. A Model is immutable and safe for concurrent use;
// every long call takes a context and stops when it is done. Input the
// model cannot take gives an error matching ErrInput (and task.ErrInput).
//
// Through the front door (package goformer) a LLaVA checkpoint is a
// task.Chatter, a task.Captioner (CaptionPrompt, or the prompt given, as
// the instruction) and a task.Answerer.
package llava
