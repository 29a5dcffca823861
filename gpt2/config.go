package gpt2

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/nn"
)

// Config holds the fields of a GPT-2 config.json that the model reads
// (transformers' GPT2Config). Parse it with ParseConfig, which applies
// transformers' defaults for absent fields.
type Config struct {
	VocabSize  int `json:"vocab_size"`
	NPositions int `json:"n_positions"`
	NEmbd      int `json:"n_embd"`
	NLayer     int `json:"n_layer"`
	NHead      int `json:"n_head"`
	// NInner is the MLP width; ParseConfig turns an absent or null n_inner
	// into 4·n_embd.
	NInner             int     `json:"n_inner"`
	ActivationFunction string  `json:"activation_function"`
	LayerNormEpsilon   float64 `json:"layer_norm_epsilon"`
	// AddCrossAttention adds cross-attention (crossattention, ln_cross_attn)
	// to every block, for use as the decoder of an encoder–decoder model.
	AddCrossAttention bool `json:"add_cross_attention"`
	// ScaleAttnWeights divides attention scores by √(head dim) (default true).
	ScaleAttnWeights bool `json:"scale_attn_weights"`
	// ScaleAttnByInverseLayerIdx further divides the scores of layer i by i+1.
	ScaleAttnByInverseLayerIdx bool `json:"scale_attn_by_inverse_layer_idx"`
	BOSTokenID                 int  `json:"bos_token_id"`
	EOSTokenID                 int  `json:"eos_token_id"`
}

// rawConfig mirrors Config with pointers, to tell absent fields from zeros.
type rawConfig struct {
	VocabSize                  *int     `json:"vocab_size"`
	NPositions                 *int     `json:"n_positions"`
	NEmbd                      *int     `json:"n_embd"`
	NLayer                     *int     `json:"n_layer"`
	NHead                      *int     `json:"n_head"`
	NInner                     *int     `json:"n_inner"`
	ActivationFunction         *string  `json:"activation_function"`
	LayerNormEpsilon           *float64 `json:"layer_norm_epsilon"`
	AddCrossAttention          *bool    `json:"add_cross_attention"`
	ScaleAttnWeights           *bool    `json:"scale_attn_weights"`
	ScaleAttnByInverseLayerIdx *bool    `json:"scale_attn_by_inverse_layer_idx"`
	BOSTokenID                 *int     `json:"bos_token_id"`
	EOSTokenID                 *int     `json:"eos_token_id"`
}

// DefaultConfig returns transformers' GPT2Config defaults (the 124M "gpt2"
// model).
func DefaultConfig() Config {
	return Config{
		VocabSize: 50257, NPositions: 1024, NEmbd: 768, NLayer: 12, NHead: 12, NInner: 4 * 768,
		ActivationFunction: "gelu_new", LayerNormEpsilon: 1e-5, ScaleAttnWeights: true,
		BOSTokenID: 50256, EOSTokenID: 50256,
	}
}

// ParseConfig decodes a GPT-2 config (a whole config.json, or the "decoder"
// object of a vision-encoder-decoder config). Absent fields take
// transformers' defaults; name is used in error messages.
func ParseConfig(name string, raw []byte) (Config, error) {
	var r rawConfig
	if err := nn.DecodeJSON(name, raw, &r); err != nil {
		return Config{}, err
	}
	c := DefaultConfig()
	nn.SetIf(&c.VocabSize, r.VocabSize)
	nn.SetIf(&c.NPositions, r.NPositions)
	nn.SetIf(&c.NEmbd, r.NEmbd)
	nn.SetIf(&c.NLayer, r.NLayer)
	nn.SetIf(&c.NHead, r.NHead)
	c.NInner = 4 * c.NEmbd
	nn.SetIf(&c.NInner, r.NInner)
	nn.SetIf(&c.BOSTokenID, r.BOSTokenID)
	nn.SetIf(&c.EOSTokenID, r.EOSTokenID)
	nn.SetIf(&c.ActivationFunction, r.ActivationFunction)
	nn.SetIf(&c.LayerNormEpsilon, r.LayerNormEpsilon)
	nn.SetIf(&c.AddCrossAttention, r.AddCrossAttention)
	nn.SetIf(&c.ScaleAttnWeights, r.ScaleAttnWeights)
	nn.SetIf(&c.ScaleAttnByInverseLayerIdx, r.ScaleAttnByInverseLayerIdx)
	if err := c.validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

func (c Config) validate() error {
	switch {
	case c.VocabSize <= 0, c.NPositions <= 0, c.NEmbd <= 0, c.NLayer <= 0, c.NHead <= 0, c.NInner <= 0:
		return fmt.Errorf("%w: sizes must be positive (vocab_size %d, n_positions %d, n_embd %d, n_layer %d, n_head %d, n_inner %d)",
			nn.ErrConfig, c.VocabSize, c.NPositions, c.NEmbd, c.NLayer, c.NHead, c.NInner)
	case c.NEmbd%c.NHead != 0:
		return fmt.Errorf("%w: n_embd %d is not a multiple of n_head %d", nn.ErrConfig, c.NEmbd, c.NHead)
	case c.LayerNormEpsilon <= 0:
		return fmt.Errorf("%w: layer_norm_epsilon %g must be positive", nn.ErrConfig, c.LayerNormEpsilon)
	}
	return nil
}

// GenerationConfig holds the generation settings a checkpoint ships that
// the decoder's search uses (see LoadGenerationConfig for where they come
// from). Absent fields take transformers' defaults; token ids are −1 when
// unset.
type GenerationConfig struct {
	DecoderStartTokenID int
	BOSTokenID          int
	PadTokenID          int
	// EOSTokenIDs end a sequence (eos_token_id, one id or a list).
	EOSTokenIDs []int
	// ForcedEOSTokenIDs, when set, are the only tokens allowed at the last
	// position the length limit leaves (forced_eos_token_id).
	ForcedEOSTokenIDs []int
	// MaxLength bounds the whole sequence, decoder start token included
	// (transformers' default 20); MaxNewTokens, when positive, overrides it.
	MaxLength    int
	MaxNewTokens int
	// MinLength (whole sequence) and MinNewTokens (generated tokens) keep the
	// end token from being chosen earlier.
	MinLength    int
	MinNewTokens int
	NumBeams     int
	// LengthPenalty is the exponent of the beam-score length normalisation
	// (default 1).
	LengthPenalty float64
	// EarlyStopping is "true", "false" (default) or "never", as in
	// transformers' beam search.
	EarlyStopping string
	// NoRepeatNgramSize, when positive, forbids any n-gram of that size from
	// occurring twice.
	NoRepeatNgramSize int
	// RepetitionPenalty (default 1: none) divides the positive scores and
	// multiplies the negative scores of tokens already in the sequence.
	RepetitionPenalty float64
	// DoSample and NumBeamGroups record settings goformer does not
	// implement (sampling, diverse beam search); LoadCaptioner rejects
	// checkpoints that ask for them.
	DoSample      bool
	NumBeamGroups int
}

type rawGeneration struct {
	DecoderStartTokenID *int            `json:"decoder_start_token_id"`
	BOSTokenID          *int            `json:"bos_token_id"`
	EOSTokenID          json.RawMessage `json:"eos_token_id"`
	PadTokenID          *int            `json:"pad_token_id"`
	ForcedEOSTokenID    json.RawMessage `json:"forced_eos_token_id"`
	MaxLength           *int            `json:"max_length"`
	MaxNewTokens        *int            `json:"max_new_tokens"`
	MinLength           *int            `json:"min_length"`
	MinNewTokens        *int            `json:"min_new_tokens"`
	NumBeams            *int            `json:"num_beams"`
	LengthPenalty       *float64        `json:"length_penalty"`
	EarlyStopping       json.RawMessage `json:"early_stopping"`
	NoRepeatNgramSize   *int            `json:"no_repeat_ngram_size"`
	RepetitionPenalty   *float64        `json:"repetition_penalty"`
	DoSample            *bool           `json:"do_sample"`
	NumBeamGroups       *int            `json:"num_beam_groups"`
}

// tokenIDs decodes an id field that may be an integer or a list (absent
// or null leaves *dst as it is).
func tokenIDs(name, field string, raw json.RawMessage, dst *[]int) error {
	ids, err := nn.IntOrList(raw)
	if err != nil {
		return fmt.Errorf("%s: %w: %s %s", name, nn.ErrConfig, field, raw)
	}
	if ids != nil {
		*dst = ids
	}
	return nil
}

// mergeGeneration overlays the fields present in raw onto g.
func mergeGeneration(name string, raw []byte, g *GenerationConfig) error {
	var r rawGeneration
	if err := nn.DecodeJSON(name, raw, &r); err != nil {
		return err
	}
	nn.SetIf(&g.DecoderStartTokenID, r.DecoderStartTokenID)
	nn.SetIf(&g.BOSTokenID, r.BOSTokenID)
	nn.SetIf(&g.PadTokenID, r.PadTokenID)
	nn.SetIf(&g.MaxLength, r.MaxLength)
	nn.SetIf(&g.MaxNewTokens, r.MaxNewTokens)
	nn.SetIf(&g.MinLength, r.MinLength)
	nn.SetIf(&g.MinNewTokens, r.MinNewTokens)
	nn.SetIf(&g.NumBeams, r.NumBeams)
	nn.SetIf(&g.NoRepeatNgramSize, r.NoRepeatNgramSize)
	nn.SetIf(&g.NumBeamGroups, r.NumBeamGroups)
	nn.SetIf(&g.LengthPenalty, r.LengthPenalty)
	nn.SetIf(&g.RepetitionPenalty, r.RepetitionPenalty)
	nn.SetIf(&g.DoSample, r.DoSample)
	if err := tokenIDs(name, "eos_token_id", r.EOSTokenID, &g.EOSTokenIDs); err != nil {
		return err
	}
	if err := tokenIDs(name, "forced_eos_token_id", r.ForcedEOSTokenID, &g.ForcedEOSTokenIDs); err != nil {
		return err
	}
	if len(r.EarlyStopping) > 0 && string(r.EarlyStopping) != "null" {
		var e generate.EarlyStopping
		if err := e.UnmarshalJSON(r.EarlyStopping); err != nil {
			return fmt.Errorf("%s: %w: %w", name, nn.ErrConfig, err)
		}
		g.EarlyStopping = e.String()
	}
	return nil
}

// defaultGeneration returns transformers' GenerationConfig defaults.
func defaultGeneration() GenerationConfig {
	return GenerationConfig{
		DecoderStartTokenID: -1, BOSTokenID: -1, PadTokenID: -1,
		MaxLength: 20, NumBeams: 1, LengthPenalty: 1, EarlyStopping: "false", RepetitionPenalty: 1, NumBeamGroups: 1,
	}
}

// LoadGenerationConfig returns the generation settings of a model
// directory as transformers 4.30 resolves them: generation_config.json
// alone when it exists and was not derived from the model config
// ("_from_model_config"); otherwise config.json's top-level values, where
// every setting still at its default takes the value of the "decoder"
// sub-config (transformers' special case for encoder–decoder models).
func LoadGenerationConfig(dir string) (GenerationConfig, error) {
	genPath := filepath.Join(dir, "generation_config.json")
	graw, err := os.ReadFile(genPath)
	switch {
	case err == nil:
		var meta struct {
			FromModel bool `json:"_from_model_config"`
		}
		if err := nn.DecodeJSON(genPath, graw, &meta); err != nil {
			return GenerationConfig{}, err
		}
		if !meta.FromModel {
			g := defaultGeneration()
			if err := mergeGeneration(genPath, graw, &g); err != nil {
				return GenerationConfig{}, err
			}
			return g, nil
		}
	case !errors.Is(err, os.ErrNotExist):
		return GenerationConfig{}, err
	}
	cfgPath := filepath.Join(dir, "config.json")
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		return GenerationConfig{}, err
	}
	g := defaultGeneration()
	if err := mergeGeneration(cfgPath, raw, &g); err != nil {
		return GenerationConfig{}, err
	}
	var sub struct {
		Decoder json.RawMessage `json:"decoder"`
	}
	if err := json.Unmarshal(raw, &sub); err == nil && len(sub.Decoder) > 0 && string(sub.Decoder) != "null" {
		dg := defaultGeneration()
		if err := mergeGeneration(cfgPath+" (decoder)", sub.Decoder, &dg); err != nil {
			return GenerationConfig{}, err
		}
		def := defaultGeneration()
		gv, dv, defv := reflect.ValueOf(&g).Elem(), reflect.ValueOf(dg), reflect.ValueOf(def)
		for i := 0; i < gv.NumField(); i++ {
			if reflect.DeepEqual(gv.Field(i).Interface(), defv.Field(i).Interface()) {
				gv.Field(i).Set(dv.Field(i))
			}
		}
	}
	return g, nil
}

// check rejects settings the search does not implement.
func (g GenerationConfig) check() error {
	switch {
	case g.DoSample:
		return fmt.Errorf("%w: do_sample (sampling) is not supported; goformer decodes greedily or with beam search", nn.ErrConfig)
	case g.NumBeamGroups > 1:
		return fmt.Errorf("%w: num_beam_groups %d (diverse beam search) is not supported", nn.ErrConfig, g.NumBeamGroups)
	case g.RepetitionPenalty <= 0:
		return fmt.Errorf("%w: repetition_penalty %g must be positive", nn.ErrConfig, g.RepetitionPenalty)
	}
	return nil
}
