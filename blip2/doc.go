// Package blip2 runs Salesforce's BLIP-2 (transformers'
// Blip2ForConditionalGeneration, v4.30) for image captioning and prompted
// visual question answering, token for token as transformers does.
//
// A BLIP-2 model is three parts:
//
//   - the vision tower (vision_model.*): a ViT with a fused qkv projection
//     and a post_layernorm over the whole last hidden state, run by the
//     shared encoder of package vit (vit.NewBLIP2Encoder);
//   - the Querying Transformer (qformer.*, query_tokens): a BERT-style
//     post-LN encoder over num_query_tokens learned query embeddings (a
//     layer norm first), with cross-attention to the image features in
//     every cross_attention_frequency-th layer and the query feed-forward
//     (intermediate_query, output_query); language_projection maps its
//     output into the language model's embedding space;
//   - the language model (language_model.*): OPT (or Llama), run by package
//     llm on the projected query outputs followed by the embeddings of the
//     prompt's tokens.
//
// Generation follows transformers 4.30: the prompt is tokenized by OPT's
// tokenizer ("</s>" first; "</s>" alone without a prompt), the language
// model's generate is handed the input embeddings only, and the ids it
// returns are a placeholder "</s>" (never fed to the model) followed by
// the new tokens, without the prompt. The search settings are text_config's
// (max_length 20, counting the placeholder, greedy search) unless Options
// change them; Answer builds transformers users' "Question: {q} Answer:"
// prompt.
//
// Load reads a checkpoint directory laid out like a Hub repository; New
// builds a model from a config and weights without owning them. A Model is
// immutable and safe for concurrent use; every call takes a context, checked
// between layers and before each generated token.
package blip2
