// Package llm runs decoder-only causal language models — the language half
// of multimodal models such as BLIP-2 (OPT) and LLaVA (Llama), and plain
// OPTForCausalLM / LlamaForCausalLM checkpoints — matching HuggingFace
// transformers (modeling_opt v4.30, modeling_llama v4.40) in float32.
//
// Two architectures share one API:
//
//   - OPT: learned position embeddings with offset 2 (positions counted
//     from the attention mask, so left padding is handled as transformers
//     handles it), pre-norm or post-norm blocks (do_layer_norm_before),
//     ReLU feed-forward, biases, project_in/project_out when
//     word_embed_proj_dim differs from hidden_size, a final layer norm,
//     and an LM head tied to the token embeddings (absent from Hub saves).
//   - Llama: RMSNorm (rms_norm_eps), rotary position embeddings
//     (rope_theta; rotate_half pairing of each head's two halves; linear
//     rope_scaling, other scaling types refused), SwiGLU feed-forward,
//     grouped-query attention (num_key_value_heads), no biases unless
//     attention_bias/mlp_bias, an untied lm_head unless
//     tie_word_embeddings.
//
// A [Model] is built by [New] from weights (a store's Root for a plain
// checkpoint, Root().Sub("language_model") inside BLIP-2 and LLaVA) or read
// by [Load] from a checkpoint directory. It is immutable and safe for
// concurrent use; each decoding call owns a [State] (per-layer
// nn.KVCache, positions, padding). Multimodal callers build the input
// embeddings themselves — [Model.Embed] for the text, their projected
// image features spliced in where the model puts them — and feed them to
// [State.Prefill] (next-token logits) or [State.Logits] (every position);
// [State.Step] then feeds one token per sequence.
//
// [Model.Generate] and [Model.GenerateBatch] run the generate package's
// transformers-v4.30 greedy and beam searches, or its sampling (temperature,
// top-k and top-p warpers in transformers' order, a seeded random source
// that is not torch's, so sampled texts differ from transformers' for the
// same seed), with its logits processors (repetition penalty, minimum new
// tokens, ...), over a [Prompt]: the ids generate sees and, optionally,
// the embeddings actually fed. [GenerateOptions.OnToken] streams each new
// token as soon as it is chosen; the context is checked before every step.
//
// Weights stored as F16 or BF16 stay 16-bit (packed as they are, the token
// embedding read row by row from the memory-mapped file), and float32
// checkpoints can be packed as 16-bit with nn.WithWeightType, or any
// checkpoint quantized to int8 (nn.WithWeightType(tensor.WeightQ8));
// activations and the KV cache are float32.
//
// With nn.WithDevice (Load) or a store whose Device is set (New), the
// model keeps its weights on that device and computes there: Embed,
// Prefill, Logits and Step take and return tensors on the device (host
// embeddings are uploaded), and a search downloads only the logits of each
// step to choose tokens on the host. Weights become resident at load
// (Load calls Pack), not at the first call.
package llm
