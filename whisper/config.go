package whisper

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/goformer/goformer/nn"
)

// Config holds the dimensions of a Whisper checkpoint, read from a Hub
// config.json (WhisperConfig) or from the "dims" of an OpenAI checkpoint.
type Config struct {
	// NumMelBins is the number of log-mel input channels (80, or 128 for
	// large-v3).
	NumMelBins int `json:"num_mel_bins"`
	// DModel is the width of encoder and decoder.
	DModel int `json:"d_model"`
	// EncoderLayers, EncoderHeads and EncoderFFN size the audio encoder.
	EncoderLayers int `json:"encoder_layers"`
	EncoderHeads  int `json:"encoder_attention_heads"`
	EncoderFFN    int `json:"encoder_ffn_dim"`
	// DecoderLayers, DecoderHeads and DecoderFFN size the text decoder.
	DecoderLayers int `json:"decoder_layers"`
	DecoderHeads  int `json:"decoder_attention_heads"`
	DecoderFFN    int `json:"decoder_ffn_dim"`
	// MaxSourcePositions is the encoder length (1500 for 3000 mel frames).
	MaxSourcePositions int `json:"max_source_positions"`
	// MaxTargetPositions is the decoder context (448).
	MaxTargetPositions int `json:"max_target_positions"`
	// VocabSize is 51865 (multilingual), 51864 (English-only) or 51866
	// (large-v3).
	VocabSize int `json:"vocab_size"`
	// ActivationFunction is the MLP activation ("gelu").
	ActivationFunction string `json:"activation_function"`
	// ScaleEmbedding multiplies token embeddings by √d_model (false for
	// every published Whisper checkpoint).
	ScaleEmbedding bool `json:"scale_embedding"`
	// DecoderStartTokenID and EOSTokenID as in the config (informational;
	// decoding uses the tokenizer's special tokens).
	DecoderStartTokenID int `json:"decoder_start_token_id"`
	EOSTokenID          int `json:"eos_token_id"`
	// SuppressTokens and BeginSuppressTokens are read by older Hub
	// checkpoints from config.json; generation_config.json overrides them.
	SuppressTokens      []int `json:"suppress_tokens"`
	BeginSuppressTokens []int `json:"begin_suppress_tokens"`
}

var requiredConfig = []string{
	"d_model", "encoder_layers", "encoder_attention_heads", "encoder_ffn_dim",
	"decoder_layers", "decoder_attention_heads", "decoder_ffn_dim",
	"num_mel_bins", "max_source_positions", "max_target_positions", "vocab_size",
}

// LoadConfig reads a Hub config.json.
func LoadConfig(path string) (Config, error) {
	c := Config{ActivationFunction: "gelu"}
	if err := nn.ReadJSON(path, &c, requiredConfig...); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Validate checks that the dimensions are usable.
func (c *Config) Validate() error {
	var errs []error
	pos := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s = %d must be positive", name, v))
		}
	}
	pos("d_model", c.DModel)
	pos("encoder_layers", c.EncoderLayers)
	pos("encoder_attention_heads", c.EncoderHeads)
	pos("encoder_ffn_dim", c.EncoderFFN)
	pos("decoder_layers", c.DecoderLayers)
	pos("decoder_attention_heads", c.DecoderHeads)
	pos("decoder_ffn_dim", c.DecoderFFN)
	pos("num_mel_bins", c.NumMelBins)
	pos("max_source_positions", c.MaxSourcePositions)
	pos("max_target_positions", c.MaxTargetPositions)
	pos("vocab_size", c.VocabSize)
	if c.EncoderHeads > 0 && c.DModel%c.EncoderHeads != 0 {
		errs = append(errs, fmt.Errorf("d_model %d not divisible by encoder_attention_heads %d", c.DModel, c.EncoderHeads))
	}
	if c.DecoderHeads > 0 && c.DModel%c.DecoderHeads != 0 {
		errs = append(errs, fmt.Errorf("d_model %d not divisible by decoder_attention_heads %d", c.DModel, c.DecoderHeads))
	}
	if c.ActivationFunction == "" {
		c.ActivationFunction = "gelu"
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", nn.ErrConfig, errors.Join(errs...))
	}
	return nil
}

// NumFrames is the number of mel frames of one window (2 per encoder
// position: 3000).
func (c *Config) NumFrames() int { return 2 * c.MaxSourcePositions }

// GenerationConfig is the part of a Hub generation_config.json that
// decoding uses. Absent fields keep their zero value (nil slices, nil
// pointers) and decoding falls back to OpenAI's defaults.
type GenerationConfig struct {
	// SuppressTokens are always suppressed; nil means "derive the
	// non-speech set from the tokenizer" (OpenAI's "-1").
	SuppressTokens []int `json:"suppress_tokens"`
	// BeginSuppressTokens are suppressed at the first sampled position
	// (typically [220, eot]).
	BeginSuppressTokens []int `json:"begin_suppress_tokens"`
	// AlignmentHeads are the [layer, head] pairs of cross-attention used for
	// word timestamps; nil means "every head of the second half of the
	// decoder layers", as OpenAI does for checkpoints without a list.
	AlignmentHeads [][2]int `json:"alignment_heads"`
	// LangToID maps "<|en|>" to its token id.
	LangToID map[string]int `json:"lang_to_id"`
	// TaskToID maps "transcribe"/"translate" to token ids.
	TaskToID map[string]int `json:"task_to_id"`
	// NoTimestampsTokenID is <|notimestamps|>.
	NoTimestampsTokenID int `json:"no_timestamps_token_id"`
	// MaxInitialTimestampIndex bounds the first timestamp (HF semantics).
	MaxInitialTimestampIndex *int `json:"max_initial_timestamp_index"`
	// IsMultilingual tells multilingual from English-only checkpoints.
	IsMultilingual *bool `json:"is_multilingual"`
	// MaxLength is the decoder's maximum total length.
	MaxLength int `json:"max_length"`
}

// loadGenerationConfig reads dir/generation_config.json when present.
func loadGenerationConfig(dir string) (GenerationConfig, bool, error) {
	var g GenerationConfig
	p := filepath.Join(dir, "generation_config.json")
	if _, err := os.Stat(p); err != nil {
		return g, false, nil
	}
	if err := nn.ReadJSON(p, &g); err != nil {
		return g, false, err
	}
	return g, true, nil
}
