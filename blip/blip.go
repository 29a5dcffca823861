// Package blip runs Salesforce's BLIP for image captioning (unconditional
// and continuing a text prefix) and visual question answering, matching
// HuggingFace transformers' BlipForConditionalGeneration and
// BlipForQuestionAnswering (v4.30) token for token.
//
// A model directory laid out like a Hub repository (config.json,
// model.safetensors or pytorch_model.bin, preprocessor_config.json and the
// WordPiece vocab.txt) is loaded with Load. The vision encoder is BLIP's
// ViT; the text side is a BERT-style model with cross-attention to the
// image: a causal decoder with an LM head that writes captions and answers,
// and, for question answering, a bidirectional question encoder.
//
// Generation follows transformers exactly: captions start from [DEC]; a
// prefix is tokenized as "[CLS] prefix [SEP]", its first token replaced by
// [DEC] and the trailing [SEP] dropped; decoding stops at [SEP]; greedy or
// beam search with the length, repetition and early-stopping settings of
// Options, whose zero values take the defaults of the checkpoint's
// text_config (max_length 20, greedy, as transformers). The searches are
// those of package [github.com/goformer/goformer/generate].
//
// A loaded Model is immutable and safe for concurrent use.
package blip

import (
	"context"
	"errors"
	"fmt"
	"image"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/task"
	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/tokenizer"
	"github.com/goformer/goformer/vit"
)

// ErrInput marks invalid input to a model call: wrong pixel shapes, empty
// batches, token ids outside the vocabulary, a prompt that leaves no room
// under the maximum length, unusable options.
var ErrInput = task.NewInputError("blip: invalid input")

// ErrTask is returned when a model is asked for a task its checkpoint does
// not provide (Answer on a captioning model).
var ErrTask = task.NewInputError("blip: task not supported by this checkpoint")

// Task is what a checkpoint does.
type Task int

const (
	// TaskCaptioning is BlipForConditionalGeneration: Caption and
	// CaptionWithPrefix.
	TaskCaptioning Task = iota
	// TaskQuestionAnswering is BlipForQuestionAnswering: Answer.
	TaskQuestionAnswering
)

// String returns the transformers class name of the task.
func (t Task) String() string {
	if t == TaskQuestionAnswering {
		return "BlipForQuestionAnswering"
	}
	return "BlipForConditionalGeneration"
}

// Model is a loaded BLIP checkpoint.
type Model struct {
	cfg     Config
	task    Task
	vision  *visionModel
	decoder *textModel // text_decoder (with LM head)
	encoder *textModel // text_encoder (question answering only)
	proc    *imageproc.Processor
	tok     *tokenizer.WordPiece
	store   *checkpoint.Store
	dev     *tensor.Device // where the weights live and forward passes run (nil: the host)
}

// Option configures Load.
type Option = nn.LoadOption

// WithDevice loads the model onto device d (nn.WithDevice): its weights
// are uploaded and packed there by Load, forward passes run there, and the
// tensors the model's tensor-level calls return (EncodeImages,
// DecoderLogits, EncodeQuestions) are on d (tensor.ToHost reads them).
// Generation downloads only each step's logits.
func WithDevice(d *tensor.Device) Option { return nn.WithDevice(d) }

// WithWeightType keeps the float32 weights of the linear layers (the
// vocabulary projection among them) packed as t (tensor.WeightF16 or
// WeightBF16): half the memory and half the bytes each generated token
// reads, at the cost of rounding each weight to 11 (F16) or 8 (BF16)
// significant bits (measured: ~4e-4 (F16) and ~4e-3 (BF16) of the largest
// logit). Weights an F16 or BF16 checkpoint stores are kept in their own
// type regardless, which is exact.
// t = tensor.WeightQ8 instead quantizes the weights of every linear layer
// (16-bit checkpoints included) to int8 with a scale per 256 values, and
// their inputs on the fly: a quarter of float32's memory and reads (the
// accuracy measured on the fixtures is in tensor/PERFORMANCE.md).
func WithWeightType(t tensor.WeightType) Option { return nn.WithWeightType(t) }

// WithKVType keeps the cross-attention keys and values over the image
// tokens (577 tokens × 12 layers at blip-image-captioning-large size, read
// whole for every generated token) packed as t (tensor.WeightF16 or
// WeightBF16): half their memory and of those reads, at the cost of
// rounding them.
func WithKVType(t tensor.WeightType) Option { return nn.WithKVType(t) }

// Load reads a BLIP model directory: config.json, the weights
// (model.safetensors, sharded safetensors or pytorch_model.bin),
// preprocessor_config.json (required for the image-level calls) and the
// tokenizer files (required for the text-level calls). The task comes from
// config.json's architectures, else from the weights (a text_encoder means
// question answering).
func Load(dir string, opts ...Option) (*Model, error) {
	o, cfg, err := nn.StartLoad("blip", dir, opts, LoadConfig)
	if err != nil {
		return nil, err
	}
	m, store, err := nn.LoadStore("blip", dir, o, func(store *checkpoint.Store) (*Model, error) {
		m, err := New(cfg, store.Root())
		if err == nil && m.decoder != nil {
			o.ApplyKV(m.decoder.layers)
		}
		return m, err
	})
	if err != nil {
		return nil, err
	}
	m.store = store
	if m.proc, err = imageproc.LoadProcessorIfPresent(dir); err != nil {
		store.Close()
		return nil, fmt.Errorf("blip: %w", err)
	}
	if m.tok, err = loadTokenizer(dir); err != nil {
		store.Close()
		return nil, fmt.Errorf("blip: %w", err)
	}
	return m, nil
}

// New builds a model from a config and weights (a checkpoint.Store's Root) in the Hub layout
// (vision_model.*, text_decoder.*, and text_encoder.* for question
// answering). Every missing or mis-shaped tensor is named in one error
// wrapping checkpoint.ErrMissingWeights. The model has no image processor (see
// WithProcessor) or tokenizer: use the pixel- and id-level calls, or Load.
// The store's Device, when set, is where the model computes; the store's
// Prepare makes the weights resident before the first call (Load calls it).
func New(cfg Config, w checkpoint.Weights) (*Model, error) {
	if err := w.CheckStore("blip"); err != nil {
		return nil, err
	}
	store := w.Store()
	cfg = cfg.normalized()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("blip: %w", err)
	}
	task := TaskCaptioning
	switch {
	case len(cfg.Architectures) > 0 && cfg.Architectures[0] == "BlipForQuestionAnswering":
		task = TaskQuestionAnswering
	case len(cfg.Architectures) > 0 && cfg.Architectures[0] == "BlipForConditionalGeneration":
	case len(cfg.Architectures) > 0:
		return nil, fmt.Errorf("blip: %w: %s (want BlipForConditionalGeneration or BlipForQuestionAnswering)", nn.ErrUnsupportedArchitecture, cfg.Architectures[0])
	case w.Has("text_encoder.embeddings.word_embeddings.weight"):
		task = TaskQuestionAnswering
	}
	if task == TaskQuestionAnswering && cfg.Text.HiddenSize != cfg.Text.EncoderHiddenSize {
		return nil, fmt.Errorf("blip: %w: question answering needs text_config.hidden_size (%d) = vision_config.hidden_size (%d): the answer decoder cross-attends to the question encoder with the image's width", nn.ErrConfig, cfg.Text.HiddenSize, cfg.Vision.HiddenSize)
	}
	root := w
	m := &Model{cfg: cfg, task: task, dev: store.Device}
	var err error
	if m.vision, err = newVisionModel(root.Sub("vision_model"), cfg.Vision); err != nil {
		return nil, fmt.Errorf("blip: %w", err)
	}
	head := root.Sub("text_decoder.cls")
	if m.decoder, err = newTextModel(root.Sub("text_decoder.bert"), &head, cfg.Text); err != nil {
		return nil, fmt.Errorf("blip: %w", err)
	}
	if task == TaskQuestionAnswering {
		if m.encoder, err = newTextModel(root.Sub("text_encoder"), nil, cfg.Text); err != nil {
			return nil, fmt.Errorf("blip: %w", err)
		}
	}
	if err := store.Err(false); err != nil {
		return nil, fmt.Errorf("blip: %s: %w", store.Source, err)
	}
	return m, nil
}

// Close releases the memory-mapped weights of a model made by Load, and
// the packed weights and device memory its Load made resident. The model
// must not be used afterwards.
func (m *Model) Close() error {
	if m.store == nil {
		return nil
	}
	return m.store.Close()
}

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// Task reports whether the checkpoint captions or answers questions.
func (m *Model) Task() Task { return m.task }

// Processor returns the image processor (nil for a model built with New, or
// loaded from a directory without preprocessor_config.json).
func (m *Model) Processor() *imageproc.Processor { return m.proc }

// WithProcessor returns a copy of the model that preprocesses images with p
// (nil leaves the copy without one: the image-level calls then fail and
// only the pixel-level ones work). The copy shares the weights: Close on
// either releases them for both.
func (m *Model) WithProcessor(p *imageproc.Processor) *Model {
	c := *m
	c.proc = p
	return &c
}

// Options control generation. Zero values take the checkpoint's defaults
// from text_config (transformers' generation defaults for text_decoder):
// max_length 20, min_length 0, greedy search, length_penalty 1,
// repetition_penalty 1 (off), early_stopping false.
type Options struct {
	// MaxNewTokens bounds the number of generated tokens, not counting the
	// prompt ([DEC] and any prefix). Zero: MaxLength decides. The whole
	// sequence must fit the text model's max_position_embeddings.
	MaxNewTokens int `json:"max_new_tokens,omitempty"`
	// MaxLength bounds the whole sequence, prompt included (transformers'
	// max_length); ignored when MaxNewTokens is set. Zero: the config's
	// max_length.
	MaxLength int `json:"max_length,omitempty"`
	// MinNewTokens keeps [SEP] from ending the text before this many tokens
	// are generated. Zero: no minimum.
	MinNewTokens int `json:"min_new_tokens,omitempty"`
	// MinLength keeps [SEP] from ending the text before the whole sequence,
	// prompt included, has this many tokens. Zero: the config's min_length.
	MinLength int `json:"min_length,omitempty"`
	// NumBeams > 1 selects beam search with that many beams; 1 is greedy.
	// Zero: the config's num_beams. More than generate.MaxBeams is refused.
	NumBeams int `json:"num_beams,omitempty"`
	// LengthPenalty is the exponent of the length that divides a finished
	// beam's log-probability (> 0 favours longer texts). Zero: the config's
	// length_penalty.
	LengthPenalty float64 `json:"length_penalty,omitempty"`
	// EarlyStopping is the beam-search stopping rule. Nil: the config's
	// (text_config.early_stopping).
	EarlyStopping *generate.EarlyStopping `json:"early_stopping,omitempty"`
	// RepetitionPenalty > 1 discourages tokens already in the sequence
	// (CTRL's rule, as transformers). Zero: the config's
	// repetition_penalty.
	RepetitionPenalty float64 `json:"repetition_penalty,omitempty"`
}

// resolve turns options into the generation options for prompts of
// promptLen tokens.
func (m *Model) resolve(o Options, promptLen int) (generate.Options, error) {
	t := m.cfg.Text
	c := generate.Options{
		MaxLength: t.MaxLength, MinLength: t.MinLength, NumBeams: t.NumBeams,
		LengthPenalty: t.LengthPenalty, RepetitionPenalty: t.RepetitionPenalty,
		EOS: []int{t.SepTokenID},
	}
	if o.MaxNewTokens < 0 || o.MaxLength < 0 || o.MinNewTokens < 0 || o.MinLength < 0 || o.NumBeams < 0 || o.RepetitionPenalty < 0 {
		return c, fmt.Errorf("%w: negative generation option in %+v", ErrInput, o)
	}
	if o.NumBeams > generate.MaxBeams {
		return c, fmt.Errorf("%w: %d beams is over the limit of %d (generate.MaxBeams)", ErrInput, o.NumBeams, generate.MaxBeams)
	}
	if o.MaxNewTokens > t.MaxPositionEmbeddings {
		return c, fmt.Errorf("%w: %d new tokens is over the limit of the text model's %d positions", ErrInput, o.MaxNewTokens, t.MaxPositionEmbeddings)
	}
	switch {
	case o.MaxNewTokens > 0:
		c.MaxLength = promptLen + o.MaxNewTokens
	case o.MaxLength > 0:
		c.MaxLength = o.MaxLength
	}
	if o.MinLength > 0 {
		c.MinLength = o.MinLength
	}
	c.MinNewTokens = o.MinNewTokens
	if o.NumBeams > 0 {
		c.NumBeams = o.NumBeams
	}
	if o.LengthPenalty != 0 {
		c.LengthPenalty = o.LengthPenalty
	}
	c.EarlyStopping = t.EarlyStopping
	if o.EarlyStopping != nil {
		c.EarlyStopping = *o.EarlyStopping
	}
	if c.EarlyStopping < generate.EarlyStoppingHeuristic || c.EarlyStopping > generate.EarlyStoppingNever {
		return c, fmt.Errorf("%w: unknown early stopping rule %d", ErrInput, int(c.EarlyStopping))
	}
	if o.RepetitionPenalty > 0 {
		c.RepetitionPenalty = o.RepetitionPenalty
	}
	if c.RepetitionPenalty <= 0 {
		c.RepetitionPenalty = 1
	}
	if c.NumBeams < 1 {
		c.NumBeams = 1
	}
	if c.MaxLength <= promptLen {
		return c, fmt.Errorf("%w: the prompt has %d tokens and max length is %d: nothing left to generate (raise MaxNewTokens or MaxLength)", ErrInput, promptLen, c.MaxLength)
	}
	if c.MaxLength > t.MaxPositionEmbeddings {
		return c, fmt.Errorf("%w: max length %d exceeds the text model's %d positions", ErrInput, c.MaxLength, t.MaxPositionEmbeddings)
	}
	if c.NumBeams > generate.MaxBeams {
		return c, fmt.Errorf("%w: %d beams (text_config.num_beams) is over the limit of %d (generate.MaxBeams)", ErrInput, c.NumBeams, generate.MaxBeams)
	}
	if c.NumBeams > t.VocabSize/2 {
		return c, fmt.Errorf("%w: %d beams for a vocabulary of %d", ErrInput, c.NumBeams, t.VocabSize)
	}
	return c, nil
}

// PixelValues preprocesses images into the [N, 3, H, W] pixel values the
// vision encoder takes (BlipImageProcessor: RGB, bicubic resize, rescale,
// normalize with the mean and std of preprocessor_config.json).
func (m *Model) PixelValues(images []image.Image) (*tensor.Tensor, error) {
	if m.proc == nil {
		return nil, fmt.Errorf("blip: no image processor: the model was not loaded from a directory with preprocessor_config.json")
	}
	return vit.PixelValues(m.proc, images, ErrInput, "blip: ")
}

// EncodeImages runs the vision encoder on pixel values [B, C, H, W] and
// returns its last hidden state [B, patches+1, D] (after post_layernorm):
// the image embeddings the text side attends to, on the model's device
// (see WithDevice). Host pixel values are uploaded.
func (m *Model) EncodeImages(ctx context.Context, pixels *tensor.Tensor) (*tensor.Tensor, error) {
	return m.vision.forward(ctx, pixels)
}

// checkEmbeds validates image embeddings [B, N, D].
func (m *Model) checkEmbeds(embeds *tensor.Tensor) error {
	if embeds == nil {
		return fmt.Errorf("%w: image embeddings are nil", ErrInput)
	}
	s := embeds.Shape()
	if len(s) != 3 || s[0] < 1 || s[1] < 1 || s[2] != m.cfg.Text.EncoderHiddenSize {
		return fmt.Errorf("%w: image embeddings have shape %v, want [B, N, %d]", ErrInput, s, m.cfg.Text.EncoderHiddenSize)
	}
	return nil
}

// encodeImages preprocesses images and runs the vision encoder on them
// (see PixelValues and EncodeImages).
func (m *Model) encodeImages(ctx context.Context, images []image.Image) (*tensor.Tensor, error) {
	px, err := m.PixelValues(images)
	if err != nil {
		return nil, err
	}
	embeds, err := m.EncodeImages(ctx, px)
	tensor.Release(px)
	return embeds, err
}

// DecoderLogits runs the caption decoder teacher-forced: for token rows
// ids [B][T] (all of length T, usually starting with [DEC]) attending to
// image embeddings [B, N, D], it returns the logits [B, T, V] of every
// next token, as BlipForConditionalGeneration's forward pass. The logits
// are on the model's device (see WithDevice); host embeddings are
// uploaded.
func (m *Model) DecoderLogits(ctx context.Context, embeds *tensor.Tensor, ids [][]int) (*tensor.Tensor, error) {
	if err := m.checkEmbeds(embeds); err != nil {
		return nil, err
	}
	if len(ids) != embeds.Dim(0) {
		return nil, fmt.Errorf("%w: %d token rows for %d images", ErrInput, len(ids), embeds.Dim(0))
	}
	embeds, done, err := m.dev.UploadInput(embeds)
	if err != nil {
		return nil, err
	}
	defer done()
	x, err := m.decoder.embed(ids, 0)
	if err != nil {
		return nil, err
	}
	st, err := m.decoder.newState(embeds.Contiguous(), nil)
	if err != nil {
		tensor.Release(x)
		return nil, err
	}
	defer st.release()
	if x, err = m.decoder.forward(ctx, x, st, true, nil); err != nil {
		return nil, err
	}
	defer tensor.Release(x)
	return m.decoder.head.logits(x), nil
}

// GenerateIDs is BlipForConditionalGeneration.generate on image embeddings
// [B, N, D]: inputIDs is the tokenized prompt as the processor makes it
// ("[CLS] prefix [SEP]"), or nil for an unconditional caption. As
// transformers does, its first token is replaced by [DEC] and its last
// ([SEP]) dropped; an empty prompt starts from [DEC] alone. It returns one
// sequence per image: [DEC], the prefix, the generated tokens, and [SEP]
// when the text ended before the maximum length.
func (m *Model) GenerateIDs(ctx context.Context, embeds *tensor.Tensor, inputIDs []int, opts Options) ([][]int, error) {
	if m.task != TaskCaptioning {
		// The question-answering checkpoint has the same decoder, but
		// transformers' BlipForQuestionAnswering has no captioning call.
		return nil, fmt.Errorf("%w: %s cannot caption", ErrTask, m.task)
	}
	if err := m.checkEmbeds(embeds); err != nil {
		return nil, err
	}
	prompt := []int{m.cfg.Text.BosTokenID}
	if len(inputIDs) > 0 {
		if len(inputIDs) < 2 {
			return nil, fmt.Errorf("%w: a prompt must hold at least [CLS] and [SEP], got %v", ErrInput, inputIDs)
		}
		prompt = append(prompt, inputIDs[1:len(inputIDs)-1]...)
	}
	prompts := make([][]int, embeds.Dim(0))
	for i := range prompts {
		prompts[i] = prompt
	}
	return m.generate(ctx, embeds, nil, prompts, opts)
}

// generate decodes from prompts with the decoder attending to enc (with
// encLen valid positions per row when non-nil).
func (m *Model) generate(ctx context.Context, enc *tensor.Tensor, encLen []int, prompts [][]int, opts Options) ([][]int, error) {
	c, err := m.resolve(opts, len(prompts[0]))
	if err != nil {
		return nil, err
	}
	for _, p := range prompts {
		for _, id := range p {
			if id < 0 || id >= m.cfg.Text.VocabSize {
				return nil, fmt.Errorf("%w: token id %d outside the vocabulary (%d)", ErrInput, id, m.cfg.Text.VocabSize)
			}
		}
	}
	enc, done, err := m.dev.UploadInput(enc)
	if err != nil {
		return nil, err
	}
	defer done()
	st, err := m.decoder.newState(enc.Contiguous(), encLen)
	if err != nil {
		return nil, err
	}
	d := &decoder{m: m.decoder, st: st}
	defer d.st.release()
	defer d.release()
	ids, err := generate.Generate(ctx, d, prompts, c)
	if errors.Is(err, generate.ErrInvalid) {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	return ids, err
}

// EncodeQuestions runs the question encoder (text_encoder) on the question
// ids of each image ("[CLS] question [SEP]" as the processor makes them),
// attending to image embeddings [B, N, D]. Questions of different lengths
// are padded to the longest and masked; lens gives each one's length.
// hidden is on the model's device (see WithDevice); host embeddings are
// uploaded.
func (m *Model) EncodeQuestions(ctx context.Context, embeds *tensor.Tensor, questionIDs [][]int) (hidden *tensor.Tensor, lens []int, err error) {
	if m.task != TaskQuestionAnswering {
		return nil, nil, fmt.Errorf("%w: %s has no question encoder", ErrTask, m.task)
	}
	if err := m.checkEmbeds(embeds); err != nil {
		return nil, nil, err
	}
	if len(questionIDs) != embeds.Dim(0) {
		return nil, nil, fmt.Errorf("%w: %d questions for %d images", ErrInput, len(questionIDs), embeds.Dim(0))
	}
	longest := 0
	lens = make([]int, len(questionIDs))
	for i, q := range questionIDs {
		if len(q) == 0 {
			return nil, nil, fmt.Errorf("%w: question %d has no tokens", ErrInput, i)
		}
		lens[i] = len(q)
		longest = max(longest, len(q))
	}
	rows := make([][]int, len(questionIDs))
	for i, q := range questionIDs {
		rows[i] = append(append(make([]int, 0, longest), q...), make([]int, longest-len(q))...)
		for j := len(q); j < longest; j++ {
			rows[i][j] = m.cfg.Text.PadTokenID
		}
	}
	embeds, done, err := m.dev.UploadInput(embeds)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	mask, err := paddingMask(m.dev, lens, longest)
	if err != nil {
		return nil, nil, err
	}
	defer tensor.Release(mask)
	x, err := m.encoder.embed(rows, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err := m.encoder.newState(embeds.Contiguous(), nil)
	if err != nil {
		tensor.Release(x)
		return nil, nil, err
	}
	defer st.release()
	x, err = m.encoder.forward(ctx, x, st, false, mask)
	if err != nil {
		return nil, nil, err
	}
	return x, lens, nil
}

// AnswerIDs is BlipForQuestionAnswering.generate on image embeddings
// [B, N, D] and the tokenized question of each image: the question is
// encoded with the image, then the answer decoded from [DEC] while
// attending to the encoded question. Each question is treated as if asked
// alone (padding never influences an answer). It returns one sequence per
// image: [DEC], the answer, and [SEP] when it ended before the maximum
// length.
func (m *Model) AnswerIDs(ctx context.Context, embeds *tensor.Tensor, questionIDs [][]int, opts Options) ([][]int, error) {
	q, lens, err := m.EncodeQuestions(ctx, embeds, questionIDs)
	if err != nil {
		return nil, err
	}
	defer tensor.Release(q)
	prompts := make([][]int, len(questionIDs))
	for i := range prompts {
		prompts[i] = []int{m.cfg.Text.BosTokenID}
	}
	return m.generate(ctx, q, lens, prompts, opts)
}

// Caption is one generated text.
type Caption struct {
	// Text is the decoded caption (the prefix included), special tokens
	// left out.
	Text string `json:"text"`
	// IDs are the token ids: [DEC], the prefix, the generated tokens and
	// [SEP] when the text ended before the maximum length.
	IDs []int `json:"ids"`
}

// Answer is the answer to one question about one image.
type Answer struct {
	// Question is the question asked.
	Question string `json:"question"`
	// Text is the decoded answer, special tokens left out.
	Text string `json:"text"`
	// IDs are the answer's token ids: [DEC], the answer and [SEP] when it
	// ended before the maximum length.
	IDs []int `json:"ids"`
}

// Caption describes each image (unconditional captioning).
func (m *Model) Caption(ctx context.Context, images []image.Image, opts Options) ([]Caption, error) {
	return m.caption(ctx, images, nil, opts)
}

// CaptionWithPrefix describes each image, continuing the text prefix (for
// example "a photography of"), as transformers does for
// processor(image, prefix): the caption starts with the prefix.
func (m *Model) CaptionWithPrefix(ctx context.Context, images []image.Image, prefix string, opts Options) ([]Caption, error) {
	ids, err := m.encode(prefix)
	if err != nil {
		return nil, err
	}
	return m.caption(ctx, images, ids, opts)
}

func (m *Model) caption(ctx context.Context, images []image.Image, prompt []int, opts Options) ([]Caption, error) {
	if m.task != TaskCaptioning {
		return nil, fmt.Errorf("%w: %s cannot caption", ErrTask, m.task)
	}
	if m.tok == nil {
		return nil, errNoTokenizer
	}
	// Options are checked before the vision encoder runs.
	promptLen := 1
	if len(prompt) > 2 {
		promptLen += len(prompt) - 2
	}
	if _, err := m.resolve(opts, promptLen); err != nil {
		return nil, err
	}
	embeds, err := m.encodeImages(ctx, images)
	if err != nil {
		return nil, err
	}
	defer tensor.Release(embeds)
	seqs, err := m.GenerateIDs(ctx, embeds, prompt, opts)
	if err != nil {
		return nil, err
	}
	out := make([]Caption, len(seqs))
	for i, s := range seqs {
		out[i] = Caption{Text: m.decode(s), IDs: s}
	}
	return out, nil
}

// Answer answers questions about images: questions[i] is asked of
// images[i], or a single question is asked of every image.
func (m *Model) Answer(ctx context.Context, images []image.Image, questions []string, opts Options) ([]Answer, error) {
	if m.task != TaskQuestionAnswering {
		return nil, fmt.Errorf("%w: %s cannot answer questions", ErrTask, m.task)
	}
	if len(questions) != 1 && len(questions) != len(images) {
		return nil, fmt.Errorf("%w: %d questions for %d images (want one, or one per image)", ErrInput, len(questions), len(images))
	}
	if m.tok == nil {
		return nil, errNoTokenizer
	}
	qids := make([][]int, len(images))
	asked := make([]string, len(images))
	for i := range images {
		q := questions[0]
		if len(questions) > 1 {
			q = questions[i]
		}
		asked[i] = q
		if i == 0 || len(questions) > 1 {
			ids, err := m.encode(q)
			if err != nil {
				return nil, fmt.Errorf("question %d: %w", i, err)
			}
			if len(ids) > m.cfg.Text.MaxPositionEmbeddings {
				return nil, fmt.Errorf("%w: question %d has %d tokens, more than the text model's %d positions", ErrInput, i, len(ids), m.cfg.Text.MaxPositionEmbeddings)
			}
			qids[i] = ids
		} else {
			qids[i] = qids[0]
		}
	}
	// Options are checked before the encoders run.
	if _, err := m.resolve(opts, 1); err != nil {
		return nil, err
	}
	embeds, err := m.encodeImages(ctx, images)
	if err != nil {
		return nil, err
	}
	defer tensor.Release(embeds)
	seqs, err := m.AnswerIDs(ctx, embeds, qids, opts)
	if err != nil {
		return nil, err
	}
	out := make([]Answer, len(seqs))
	for i, s := range seqs {
		out[i] = Answer{Question: asked[i], Text: m.decode(s), IDs: s}
	}
	return out, nil
}
