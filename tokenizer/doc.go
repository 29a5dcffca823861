// Package tokenizer implements the text tokenizers used by goformer's models,
// matching HuggingFace transformers (and OpenAI's reference code) id for id:
//
//   - byte-level BPE as GPT-2 and Whisper use it ([BPE], [Whisper]), loaded
//     from vocab.json + merges.txt, from an OpenAI .tiktoken file or from a
//     HuggingFace tokenizer.json;
//   - CLIP's BPE with "</w>" word ends, lowercasing and 77-token truncation
//     ([CLIP]);
//   - BERT's WordPiece as BLIP uses it ([WordPiece]);
//   - SentencePiece BPE with byte fallback, the tokenizer of Llama, Vicuna,
//     LLaVA and Mistral ([SentencePiece]), loaded from a tokenizer.model
//     ([ParseSentencePieceModel] reads the protobuf) or a tokenizer.json, as
//     transformers' LlamaTokenizerFast runs it ([LoadLlama]);
//   - OPT's byte-level BPE with </s> in front ([LoadOPT], a [BPE]).
//
// Every tokenizer implements [Tokenizer]. [LoadFromDir] picks the right one
// from the files of a HuggingFace model directory.
//
// # SentencePiece and the legacy flag
//
// A [SentencePiece] tokenizer turns spaces into "▁" and puts a "▁" before
// the text. tokenizer_config.json's legacy flag says where: with legacy
// true (transformers' default) before every piece of text between special
// tokens, so "<image>\nWhat" encodes "▁", "\n", "What"; with legacy false
// (llava-hf's LLaVA-1.5) only before the text that starts the input, so the
// same text encodes "\n", "What". With a tokenizer.json, transformers uses
// the file as it stands and the flag has no effect unless add_prefix_space
// is also set. Pieces merge by score (the tokenizer.model) or merge rank (a
// tokenizer.json);
// characters outside the vocabulary become <0xXX> byte tokens, as do bytes
// of invalid UTF-8. <s> is put in front (add_bos_token). Decode turns "▁"
// back into spaces, joins byte tokens into UTF-8 and drops the space put
// before the text. Unigram models (T5, ALBERT) and SentencePiece
// normalizers other than "identity" are refused with [ErrUnsupported].
//
// # Special tokens
//
// Special and added tokens (such as "<|endoftext|>" or "[SEP]") are matched
// in input text only where the caller allows it: Encode treats them as plain
// text, EncodeWith with [EncodeOptions].AllSpecial (what transformers does by
// default) or [EncodeOptions].Special recognises them. Tokens a tokenizer adds
// around a sequence ([CLS]/[SEP], <|startoftext|>/<|endoftext|>) are added by
// Encode unless [EncodeOptions].NoFraming is set.
//
// # Decoding
//
// Decode follows transformers' decode with its defaults: bytes of
// byte-level tokens are joined before UTF-8 decoding, invalid UTF-8 becomes
// U+FFFD exactly as Python's errors="replace" does, and
// clean_up_tokenization_spaces is applied where the tokenizer's
// tokenizer_config.json enables it (transformers' default). Whisper does no
// clean-up, like OpenAI's whisper; [WithCleanUp] overrides either way.
// [StreamDecoder] decodes token by token, emitting only complete characters.
//
// # Reference semantics
//
// transformers loads the fast (Rust tokenizers) implementation by default;
// where it and the Python one differ, this package follows the fast one:
// lowercasing maps each character on its own (no Greek final-sigma rule),
// BERT does no NFC, and CLIP normalizes with NFC and lowercasing only (the
// other repairs of ftfy.fix_text that OpenAI's CLIP code applies are not
// done). Special tokens are not stripped of surrounding spaces unless a
// tokenizer.json asks for it (lstrip/rstrip), except by [LoadOPT], which
// follows transformers 4.30's slow GPT2Tokenizer as OPT's reference ids do.
//
// # Limits and concurrency
//
// All tokenizers are safe for concurrent use once loaded. Input longer than
// the tokenizer's maximum (DefaultMaxInputBytes unless [WithMaxInputBytes]
// says otherwise) is cut at that many bytes by Encode; TryEncode reports
// [ErrInputTooLong] instead. Malformed files give errors that name the file;
// no input makes a tokenizer panic.
package tokenizer
