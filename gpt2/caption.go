package gpt2

import (
	"context"
	"encoding/json"
	"fmt"
	"image"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/tokenizer"
	"github.com/goformer/goformer/vit"
)

// Captioner is an image-captioning vision-encoder-decoder model
// (transformers' VisionEncoderDecoderModel with a ViT encoder and a GPT-2
// decoder with cross-attention, such as nlpconnect/vit-gpt2-image-captioning):
// the image processor, the ViT encoder ("encoder.*"), an optional
// enc_to_dec_proj, the GPT-2 decoder ("decoder.*") and the GPT-2 tokenizer.
//
// A Captioner is immutable after loading and safe for concurrent use.
type Captioner struct {
	proc    *imageproc.Processor
	encoder *vit.Encoder
	proj    *nn.Linear // enc_to_dec_proj, nil when the widths agree
	decoder *Model
	tok     *tokenizer.BPE
	gen     GenerationConfig
	start   int
	dev     *tensor.Device    // where the weights live and forward passes run (nil: the host)
	store   *checkpoint.Store // set by LoadCaptioner, released by Close
}

// Close releases the memory mappings, packed weights and device memory
// behind a captioner read by LoadCaptioner (one built with NewCaptioner
// does not own its store: Close does nothing). The captioner must not be used afterwards.
func (c *Captioner) Close() error {
	if c.store == nil {
		return nil
	}
	return c.store.Close()
}

// vedConfig is the part of a vision-encoder-decoder config.json read here.
type vedConfig struct {
	ModelType string          `json:"model_type"`
	Encoder   json.RawMessage `json:"encoder"`
	Decoder   json.RawMessage `json:"decoder"`
}

// LoadCaptioner reads a VisionEncoderDecoderModel checkpoint directory:
// config.json (model_type "vision-encoder-decoder" with a "vit" encoder and
// a "gpt2" decoder), generation_config.json when present,
// preprocessor_config.json, the weights and the GPT-2 tokenizer files.
// The weights are packed (and uploaded to the device of WithDevice) before
// it returns.
func LoadCaptioner(dir string, opts ...Option) (*Captioner, error) {
	o, cfgPath, raw, err := readConfigFile(dir, opts)
	if err != nil {
		return nil, err
	}
	var vc vedConfig
	if err := nn.DecodeJSON(cfgPath, raw, &vc); err != nil {
		return nil, fmt.Errorf("gpt2: %w", err)
	}
	if vc.ModelType != "vision-encoder-decoder" {
		return nil, fmt.Errorf("gpt2: %s: %w: model_type %q (want vision-encoder-decoder)", cfgPath, nn.ErrUnsupportedArchitecture, vc.ModelType)
	}
	if err := nn.DecodeJSON(cfgPath, raw, &vc, "encoder", "decoder"); err != nil {
		return nil, fmt.Errorf("gpt2: %w", err)
	}
	var sub struct {
		ModelType                string `json:"model_type"`
		CrossAttentionHiddenSize *int   `json:"cross_attention_hidden_size"`
	}
	if err := json.Unmarshal(vc.Decoder, &sub); err != nil || sub.ModelType != "gpt2" {
		return nil, fmt.Errorf("gpt2: %s: %w: decoder model_type %q (want gpt2)", cfgPath, nn.ErrUnsupportedArchitecture, sub.ModelType)
	}
	if sub.CrossAttentionHiddenSize != nil {
		return nil, fmt.Errorf("gpt2: %s: %w: decoder cross_attention_hidden_size is not supported", cfgPath, nn.ErrUnsupportedArchitecture)
	}
	dcfg, err := ParseConfig(cfgPath+" (decoder)", vc.Decoder)
	if err != nil {
		return nil, fmt.Errorf("gpt2: %w", err)
	}
	if !dcfg.AddCrossAttention {
		return nil, fmt.Errorf("gpt2: %s: %w: decoder has no cross-attention (add_cross_attention false)", cfgPath, nn.ErrConfig)
	}
	ecfg, err := vit.ParseConfig(vc.Encoder)
	if err != nil {
		return nil, fmt.Errorf("gpt2: %s (encoder): %w", cfgPath, err)
	}

	gen, err := LoadGenerationConfig(dir)
	if err != nil {
		return nil, fmt.Errorf("gpt2: %w", err)
	}
	proc, err := imageproc.LoadProcessor(dir)
	if err != nil {
		return nil, fmt.Errorf("gpt2: %w", err)
	}
	tok, err := tokenizer.LoadBPE(dir)
	if err != nil {
		return nil, fmt.Errorf("gpt2: %w", err)
	}
	c, store, err := nn.LoadStore("gpt2", dir, o, func(store *checkpoint.Store) (*Captioner, error) {
		c, err := NewCaptioner(store.Root(), ecfg.EncoderConfig(), dcfg, gen)
		if err == nil {
			o.ApplyKV(c.decoder.blocks)
		}
		return c, err
	})
	if err != nil {
		return nil, err
	}
	c.proc, c.tok, c.store = proc, tok, store
	return c, nil
}

// NewCaptioner builds the model from weights named as a
// VisionEncoderDecoderModel names them ("encoder.*" ViT, "decoder.*" GPT-2,
// optional "enc_to_dec_proj.*"), without a processor (see WithProcessor)
// or tokenizer: use CaptionPixels, and decode the ids yourself. Every missing or mis-shaped
// tensor is listed in one error wrapping checkpoint.ErrMissingWeights.
func NewCaptioner(w checkpoint.Weights, enc vit.EncoderConfig, dec Config, gen GenerationConfig) (*Captioner, error) {
	if err := w.CheckStore("gpt2"); err != nil {
		return nil, err
	}
	if err := gen.check(); err != nil {
		return nil, fmt.Errorf("gpt2: generation config: %w", err)
	}
	if !dec.AddCrossAttention {
		return nil, fmt.Errorf("gpt2: %w: the decoder needs cross-attention layers", nn.ErrConfig)
	}
	encoder, err := vit.NewEncoder(w.Sub("encoder"), enc)
	if err != nil {
		return nil, fmt.Errorf("gpt2: encoder: %w", err)
	}
	c := &Captioner{encoder: encoder, gen: gen, dev: w.Device()}
	if enc.HiddenSize != dec.NEmbd {
		c.proj = nn.NewLinear(w.Sub("enc_to_dec_proj"), enc.HiddenSize, dec.NEmbd, true)
	}
	decoder, err := New(dec, w.Sub("decoder"))
	if err != nil {
		return nil, err
	}
	c.decoder = decoder
	c.start = gen.DecoderStartTokenID
	if c.start < 0 {
		c.start = gen.BOSTokenID
	}
	if c.start < 0 || c.start >= dec.VocabSize {
		return nil, fmt.Errorf("gpt2: %w: no valid decoder_start_token_id or bos_token_id (got %d)", nn.ErrConfig, c.start)
	}
	return c, nil
}

// Decoder returns the GPT-2 decoder.
func (c *Captioner) Decoder() *Model { return c.decoder }

// Encoder returns the ViT encoder.
func (c *Captioner) Encoder() *vit.Encoder { return c.encoder }

// Processor returns the image processor (nil for a Captioner built with
// NewCaptioner).
func (c *Captioner) Processor() *imageproc.Processor { return c.proc }

// WithProcessor returns a copy of the captioner that preprocesses images
// with p (nil leaves the copy without one: Caption then fails and only
// CaptionPixels works). The copy shares the weights: Close on either
// releases them for both.
func (c *Captioner) WithProcessor(p *imageproc.Processor) *Captioner {
	cp := *c
	cp.proc = p
	return &cp
}

// Tokenizer returns the GPT-2 tokenizer (nil for a Captioner built with
// NewCaptioner).
func (c *Captioner) Tokenizer() *tokenizer.BPE { return c.tok }

// Generation returns the checkpoint's generation settings.
func (c *Captioner) Generation() GenerationConfig { return c.gen }

// CaptionOptions configure Caption. Zero values take the checkpoint's
// generation settings.
type CaptionOptions struct {
	// MaxNewTokens bounds the number of generated tokens. 0 uses the
	// checkpoint's max_new_tokens, else its max_length (transformers'
	// default 20) less the decoder start token. The decoder start token and
	// the new tokens must fit n_positions.
	MaxNewTokens int
	// Beams is the beam-search width; 0 uses the checkpoint's num_beams
	// (default 1: greedy search). More than generate.MaxBeams is refused.
	Beams int
}

// check refuses options no search can honour: negative values, more beams
// than generate.MaxBeams, more tokens than the decoder's positions.
func (c *Captioner) check(opt CaptionOptions) error {
	n := c.decoder.Config().NPositions
	switch {
	case opt.MaxNewTokens < 0 || opt.Beams < 0:
		return fmt.Errorf("%w: negative max new tokens (%d) or beams (%d)", ErrInput, opt.MaxNewTokens, opt.Beams)
	case opt.Beams > generate.MaxBeams:
		return fmt.Errorf("%w: %d beams is over the limit of %d (generate.MaxBeams)", ErrInput, opt.Beams, generate.MaxBeams)
	case opt.MaxNewTokens >= n:
		return fmt.Errorf("%w: %d new tokens is over the limit of %d the decoder's n_positions leaves after the start token", ErrInput, opt.MaxNewTokens, n-1)
	}
	return nil
}

// Caption is one generated caption.
type Caption struct {
	// Text is the decoded caption without special tokens, as transformers'
	// tokenizer.decode(ids, skip_special_tokens=True) gives it.
	Text string `json:"text"`
	// IDs is the sequence transformers' generate returns: the decoder start
	// token, the caption's tokens and the end token when one was generated.
	IDs []int `json:"ids"`
}

// Search returns the search settings for opt, as transformers' generate
// derives them from the generation config.
func (c *Captioner) Search(opt CaptionOptions) SearchOptions {
	g := c.gen
	maxLen := g.MaxLength
	if g.MaxNewTokens > 0 {
		maxLen = 1 + g.MaxNewTokens
	}
	if opt.MaxNewTokens > 0 {
		maxLen = 1 + opt.MaxNewTokens
	}
	beams := g.NumBeams
	if opt.Beams > 0 {
		beams = opt.Beams
	}
	minLen := g.MinLength
	if g.MinNewTokens > 0 {
		minLen = max(minLen, 1+g.MinNewTokens)
	}
	return SearchOptions{
		MaxLength: maxLen, NumBeams: beams, EOS: g.EOSTokenIDs,
		LengthPenalty: g.LengthPenalty, EarlyStopping: g.EarlyStopping, NoRepeatNgramSize: g.NoRepeatNgramSize,
		MinLength: minLen, RepetitionPenalty: g.RepetitionPenalty, ForcedEOS: g.ForcedEOSTokenIDs,
	}
}

// Caption describes one image.
func (c *Captioner) Caption(ctx context.Context, img image.Image, opt CaptionOptions) (Caption, error) {
	caps, err := c.CaptionBatch(ctx, []image.Image{img}, opt)
	if err != nil {
		return Caption{}, err
	}
	return caps[0], nil
}

// CaptionBatch describes several images (encoded as one batch, decoded one
// by one).
func (c *Captioner) CaptionBatch(ctx context.Context, imgs []image.Image, opt CaptionOptions) ([]Caption, error) {
	if c.proc == nil {
		return nil, fmt.Errorf("gpt2: captioner has no image processor (built with NewCaptioner): use CaptionPixels")
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("%w: no images", ErrInput)
	}
	if err := c.check(opt); err != nil {
		return nil, err
	}
	pixels, err := c.proc.PreprocessBatch(imgs)
	if err != nil {
		return nil, fmt.Errorf("gpt2: %w", err)
	}
	return c.CaptionPixels(ctx, pixels, opt)
}

// Encode runs the encoder on pixel values [B, C, H, W] (on the host or
// the captioner's device) and returns the hidden states [B, T, n_embd] the
// decoder's cross-attention reads (after enc_to_dec_proj when the model has
// one), on the captioner's device.
func (c *Captioner) Encode(ctx context.Context, pixels *tensor.Tensor) (*tensor.Tensor, error) {
	if pixels == nil || pixels.Rank() != 4 {
		var shape []int
		if pixels != nil {
			shape = pixels.Shape()
		}
		return nil, fmt.Errorf("%w: pixel values %v, want [B, C, H, W]", ErrInput, shape)
	}
	px, err := c.dev.Upload(pixels)
	if err != nil {
		return nil, fmt.Errorf("gpt2: pixel values: %w", err)
	}
	h, err := c.encoder.Forward(ctx, px, false)
	if px != pixels {
		tensor.Release(px)
	}
	if err != nil {
		return nil, fmt.Errorf("gpt2: encoder: %w", err)
	}
	if c.proj != nil {
		p := c.proj.Forward(h)
		tensor.Release(h)
		h = p
	}
	return h, nil
}

// CaptionPixels captions preprocessed images, pixel values [B, C, H, W].
// Text is left empty when the Captioner has no tokenizer.
func (c *Captioner) CaptionPixels(ctx context.Context, pixels *tensor.Tensor, opt CaptionOptions) ([]Caption, error) {
	if err := c.check(opt); err != nil {
		return nil, err
	}
	enc, err := c.Encode(ctx, pixels)
	if err != nil {
		return nil, err
	}
	defer tensor.Release(enc)
	search := c.Search(opt)
	out := make([]Caption, enc.Dim(0))
	for i := range out {
		e := enc.Slice(0, i, i+1)
		ids, err := c.decoder.Generate(ctx, e, []int{c.start}, search)
		tensor.Release(e)
		if err != nil {
			return nil, err
		}
		out[i].IDs = ids
		if c.tok != nil {
			out[i].Text = c.tok.Decode(ids, true)
		}
	}
	return out, nil
}
