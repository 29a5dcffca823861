package blip2

import (
	"context"
	"fmt"
	"image"
	"strings"

	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/llm"
	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/tokenizer"
)

// DefaultOptions returns the generation settings transformers 4.30 uses
// for this checkpoint (Config.Generation: text_config's, max_length 20
// counting the placeholder id, greedy search), for GenerateIDs. The slices
// are copies.
func (m *Model) DefaultOptions() llm.GenerateOptions {
	return m.cfg.Generation.Clone()
}

// GenerateIDs is Blip2ForConditionalGeneration.generate on pixel values
// [B, 3, H, W]: prompts are token ids as OPT's tokenizer gives them
// ("</s>" first): nil for unconditional generation (the prompt [</s>], as
// transformers makes it), one prompt for every image, or one per image. It
// returns, per image, what transformers returns: a placeholder
// bos_token_id (never fed to the model), the new tokens, and the end token
// when one ended the text. Start opt from DefaultOptions; opt.OnToken
// streams the new tokens of a single image.
func (m *Model) GenerateIDs(ctx context.Context, pixels *tensor.Tensor, prompts [][]int, opt llm.GenerateOptions) ([][]int, error) {
	if err := m.checkPixels(pixels); err != nil {
		return nil, err
	}
	if err := m.checkPrompts(pixels.Dim(0), prompts); err != nil {
		return nil, err
	}
	if err := m.checkOptions(opt); err != nil {
		return nil, err
	}
	f, err := m.encode(ctx, pixels, false)
	if err != nil {
		return nil, err
	}
	defer f.Release()
	return m.GenerateFromInputs(ctx, f.LanguageInputs, prompts, opt)
}

// GenerateFromInputs is GenerateIDs on language-model inputs [B, Q, E]
// computed before (Features.LanguageInputs): several prompts about one
// image need the image side only once. Images of one call are decoded as
// one left-padded batch when there are several; each result is the one
// its prompt gets alone.
func (m *Model) GenerateFromInputs(ctx context.Context, inputs *tensor.Tensor, prompts [][]int, opt llm.GenerateOptions) ([][]int, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := m.checkInputs(inputs); err != nil {
		return nil, err
	}
	b := inputs.Dim(0)
	if err := m.checkPrompts(b, prompts); err != nil {
		return nil, err
	}
	if err := m.checkOptions(opt); err != nil {
		return nil, err
	}
	if opt.OnToken != nil && b != 1 {
		return nil, fmt.Errorf("%w: OnToken streams one image's tokens; %d images were given", ErrInput, b)
	}
	inputs, done, err := m.dev.UploadInput(inputs)
	if err != nil {
		return nil, err
	}
	defer done()
	bos := m.cfg.Text.BOSTokenID
	ps := make([]llm.Prompt, b)
	defer func() {
		for _, p := range ps {
			tensor.Release(p.Embeds)
		}
	}()
	for i := range ps {
		ids := []int{bos}
		switch {
		case len(prompts) == 1:
			ids = prompts[0]
		case len(prompts) == b:
			ids = prompts[i]
		}
		x, err := m.embeds(inputs, i, ids)
		if err != nil {
			return nil, err
		}
		// transformers 4.30 hands the language model inputs_embeds only:
		// generate's input_ids are a placeholder [bos].
		ps[i] = llm.Prompt{IDs: []int{bos}, Embeds: x}
	}
	var out [][]int
	if b == 1 {
		var ids []int
		ids, err = m.lm.Generate(ctx, ps[0], opt)
		out = [][]int{ids}
	} else {
		out, err = m.lm.GenerateBatch(ctx, ps, opt)
	}
	if err != nil {
		return nil, inputErr(err)
	}
	return out, nil
}

// checkPrompts validates prompts for b images.
func (m *Model) checkPrompts(b int, prompts [][]int) error {
	if len(prompts) > 1 && len(prompts) != b {
		return fmt.Errorf("%w: %d prompts for %d images (give none, one, or one per image)", ErrInput, len(prompts), b)
	}
	v := m.cfg.Text.VocabSize
	for i, p := range prompts {
		if len(p) == 0 {
			return fmt.Errorf("%w: prompt %d is empty (an unconditional prompt is [bos_token_id])", ErrInput, i)
		}
		for _, id := range p {
			if id < 0 || id >= v {
				return fmt.Errorf("%w: prompt %d: token id %d outside the vocabulary of %d", ErrInput, i, id, v)
			}
		}
	}
	return nil
}

// checkOptions bounds the work a call may ask for.
func (m *Model) checkOptions(o llm.GenerateOptions) error {
	switch {
	case o.MaxNewTokens < 0, o.MaxLength < 0, o.MinNewTokens < 0, o.MinLength < 0, o.NumBeams < 0:
		return fmt.Errorf("%w: negative length or beam count", ErrInput)
	case o.NumBeams > generate.MaxBeams:
		return fmt.Errorf("%w: %d beams is over the limit of %d (generate.MaxBeams)", ErrInput, o.NumBeams, generate.MaxBeams)
	case o.MaxNewTokens > m.cfg.Text.MaxPositions:
		return fmt.Errorf("%w: %d new tokens is over the limit of the language model's %d positions", ErrInput, o.MaxNewTokens, m.cfg.Text.MaxPositions)
	case o.MaxNewTokens == 0 && o.MaxLength > m.cfg.Text.MaxPositions:
		return fmt.Errorf("%w: a maximum length of %d is over the limit of the language model's %d positions", ErrInput, o.MaxLength, m.cfg.Text.MaxPositions)
	}
	return nil
}

// Options configure Caption and Answer. Zero values take the checkpoint's
// settings (DefaultOptions).
type Options struct {
	// MaxNewTokens bounds the generated tokens (at most the language
	// model's max_position_embeddings). Zero: text_config's max_length,
	// which counts the placeholder id (20: 19 new tokens).
	MaxNewTokens int `json:"max_new_tokens,omitempty"`
	// MinNewTokens keeps the end token away until this many tokens are
	// generated. Zero: text_config's min_length.
	MinNewTokens int `json:"min_new_tokens,omitempty"`
	// NumBeams > 1 selects beam search (at most generate.MaxBeams); 1 is
	// greedy. Zero: text_config's num_beams.
	NumBeams int `json:"num_beams,omitempty"`
	// OnToken, when non-nil, receives every generated token as soon as it
	// is chosen (with beam search, at the end): for streaming text with a
	// tokenizer.StreamDecoder.
	OnToken func(id int) `json:"-"`
}

// Search returns the generation settings for o: DefaultOptions with o's
// non-zero fields. Negative values and values over the limits are
// refused with ErrInput.
func (m *Model) Search(o Options) (llm.GenerateOptions, error) {
	g := m.DefaultOptions()
	if o.MaxNewTokens < 0 || o.MinNewTokens < 0 || o.NumBeams < 0 {
		return g, fmt.Errorf("%w: max tokens, min tokens and beams must not be negative", ErrInput)
	}
	if o.MaxNewTokens > 0 {
		g.MaxNewTokens, g.MaxLength = o.MaxNewTokens, 0
	}
	if o.MinNewTokens > 0 {
		g.MinNewTokens = o.MinNewTokens
	}
	if o.NumBeams > 0 {
		g.NumBeams = o.NumBeams
	}
	g.OnToken = o.OnToken
	return g, m.checkOptions(g)
}

// Result is one generated text.
type Result struct {
	// Text is the decoded text as transformers' decode(ids,
	// skip_special_tokens=True) gives it (OPT's tokens carry their leading
	// space: the text usually starts with one).
	Text string `json:"text"`
	// IDs are what transformers' generate returns: the placeholder
	// bos_token_id, the new tokens, and the end token when one ended the
	// text.
	IDs []int `json:"ids"`
}

// QuestionPrompt returns the prompt BLIP-2 answers a question with, as
// transformers' documentation and users build it: "Question: {q} Answer:".
func QuestionPrompt(question string) string {
	return "Question: " + strings.TrimSpace(question) + " Answer:"
}

// Caption describes an image: unconditionally when prompt is "", else
// continuing prompt (such as "a photo of"), as transformers'
// processor(images, text=prompt) then generate do.
func (m *Model) Caption(ctx context.Context, img image.Image, prompt string, opt Options) (Result, error) {
	return m.run(ctx, img, prompt, opt)
}

// Answer answers a question about an image, generating after the prompt
// QuestionPrompt(question).
func (m *Model) Answer(ctx context.Context, img image.Image, question string, opt Options) (Result, error) {
	if strings.TrimSpace(question) == "" {
		return Result{}, fmt.Errorf("%w: no question", ErrInput)
	}
	return m.run(ctx, img, QuestionPrompt(question), opt)
}

// run preprocesses img, tokenizes prompt ("" for none) and generates.
func (m *Model) run(ctx context.Context, img image.Image, prompt string, opt Options) (Result, error) {
	if m.tok == nil {
		return Result{}, fmt.Errorf("blip2: no tokenizer: the model was not loaded from a directory with OPT's vocab.json and merges.txt (see WithTokenizer)")
	}
	g, err := m.Search(opt)
	if err != nil {
		return Result{}, err
	}
	var prompts [][]int
	if prompt != "" {
		ids, err := m.tok.TryEncode(prompt, tokenizer.EncodeOptions{AllSpecial: true})
		if err != nil {
			return Result{}, fmt.Errorf("%w: prompt: %w", ErrInput, err)
		}
		if len(ids) == 0 {
			return Result{}, fmt.Errorf("%w: the prompt %q has no tokens", ErrInput, prompt)
		}
		prompts = [][]int{ids}
	}
	px, err := m.PixelValues([]image.Image{img})
	if err != nil {
		return Result{}, err
	}
	defer tensor.Release(px)
	out, err := m.GenerateIDs(ctx, px, prompts, g)
	if err != nil {
		return Result{}, err
	}
	return Result{Text: m.tok.Decode(out[0], true), IDs: out[0]}, nil
}
