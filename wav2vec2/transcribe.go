package wav2vec2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// FeatureExtractorConfig is the preprocessor_config.json of a wav2vec2
// checkpoint (transformers' Wav2Vec2FeatureExtractor).
type FeatureExtractorConfig struct {
	// SamplingRate is the rate the model expects, in Hz (16000).
	SamplingRate int `json:"sampling_rate"`
	// DoNormalize normalises each waveform to zero mean and unit variance.
	DoNormalize bool `json:"do_normalize"`
	// FeatureSize must be 1 (raw mono samples).
	FeatureSize int `json:"feature_size"`
	// ReturnAttentionMask says that a padded batch comes with its attention
	// mask (true for HuBERT and the large checkpoints, false for the
	// group-norm base ones); see Model.InputValuesBatch.
	ReturnAttentionMask bool `json:"return_attention_mask"`
}

// DefaultFeatureExtractorConfig returns Wav2Vec2FeatureExtractor's defaults.
func DefaultFeatureExtractorConfig() FeatureExtractorConfig {
	return FeatureExtractorConfig{SamplingRate: 16000, DoNormalize: true, FeatureSize: 1}
}

// Model is a wav2vec2 or HuBERT speech recogniser (transformers'
// Wav2Vec2ForCTC or HubertForCTC with its feature extractor and CTC
// tokenizer), such as facebook/wav2vec2-base-960h,
// facebook/wav2vec2-large-960h-lv60-self or facebook/hubert-large-ls960-ft.
// A Model is immutable after loading and safe for concurrent use.
type Model struct {
	net *Network
	tok *CTCTokenizer
	fe  FeatureExtractorConfig
	// own is the checkpoint Load mapped (nil for New), shared by the
	// copies With… makes; Close releases it.
	own *owned
}

// owned is a store a model owns, closed once.
type owned struct {
	store *checkpoint.Store
	once  sync.Once
	err   error
}

// Option configures Load: the load options every family shares
// (nn.LoadOption).
type Option = nn.LoadOption

// WithWeightType packs the float32 weights of linear layers as t
// (nn.WithWeightType): tensor.WeightF16 or WeightBF16 halve their memory
// and reads at the cost of rounding, tensor.WeightQ8 quarters them (int8
// with a scale per 256 values).
func WithWeightType(t tensor.WeightType) Option { return nn.WithWeightType(t) }

// WithDevice builds the model on device d (nn.WithDevice): Load uploads and
// packs the weights there, the forward passes run there, and Close frees
// the device memory. nil is the host.
func WithDevice(d *tensor.Device) Option { return nn.WithDevice(d) }

// Load reads a Wav2Vec2ForCTC or HubertForCTC checkpoint directory
// (config.json's model_type tells which): config.json, the
// weights, vocab.json (with tokenizer_config.json, special_tokens_map.json
// and added_tokens.json when present) and preprocessor_config.json (its
// defaults when absent). opts set how weights are held (nn.WithWeightType)
// and where the model computes (nn.WithDevice): the weights are packed and
// made resident there before Load returns, and Close frees them.
func Load(dir string, opts ...Option) (*Model, error) {
	o, cfg, err := nn.StartLoad("wav2vec2", dir, opts, LoadConfig)
	if err != nil {
		return nil, err
	}
	fe := DefaultFeatureExtractorConfig()
	fePath := filepath.Join(dir, "preprocessor_config.json")
	if raw, err := os.ReadFile(fePath); err == nil {
		if err := nn.DecodeJSON(fePath, raw, &fe); err != nil {
			return nil, fmt.Errorf("wav2vec2: %w", err)
		}
		if err := fe.check(); err != nil {
			return nil, fmt.Errorf("wav2vec2: %s: %w", fePath, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("wav2vec2: %w", err)
	}
	tok, err := LoadCTCTokenizer(dir)
	if err != nil {
		return nil, err
	}
	m, store, err := nn.LoadStore("wav2vec2", dir, o, func(store *checkpoint.Store) (*Model, error) {
		return New(cfg, store.Root())
	})
	if err != nil {
		return nil, err
	}
	m.tok, m.fe, m.own = tok, fe, &owned{store: store}
	return m, nil
}

// Close releases the memory mappings (and device memory) behind the
// weights of a model read by Load, for the model and the copies its With…
// methods made; a model built with New does not own its store (the
// caller's), and Close does nothing. It is idempotent; the model must not
// be used after.
func (m *Model) Close() error {
	if m.own == nil {
		return nil
	}
	m.own.once.Do(func() { m.own.err = m.own.store.Close() })
	return m.own.err
}

// New builds a model from a configuration and weights (a
// checkpoint.Store's Root) under transformers' Wav2Vec2ForCTC or
// HubertForCTC names (see NewNetwork); a checkpoint without a CTC head
// (lm_head, as pretraining-only ones are) is refused. The store stays the
// caller's: Close does not close it, and it must stay open while the model
// is used. The model has DefaultFeatureExtractorConfig's feature
// extractor and no tokenizer (give them with WithFeatureExtractor and
// WithTokenizer; Logits works without a tokenizer, the transcribing calls
// do not). New prepares the store (checkpoint.Store.Prepare): the model
// computes on the store's Device with its weights resident there.
func New(cfg Config, w checkpoint.Weights) (*Model, error) {
	if err := w.CheckStore("wav2vec2"); err != nil {
		return nil, err
	}
	store := w.Store()
	net, err := NewNetwork(cfg, w)
	if err != nil {
		return nil, err
	}
	if net.head == nil {
		return nil, fmt.Errorf("wav2vec2: %s: %w: no CTC head (lm_head.weight); is this a pretraining-only checkpoint?", store.Source, checkpoint.ErrMissingWeights)
	}
	if err := store.Prepare(); err != nil {
		return nil, fmt.Errorf("wav2vec2: %s: %w", store.Source, err)
	}
	return &Model{net: net, fe: DefaultFeatureExtractorConfig()}, nil
}

// WithTokenizer returns a copy of the model that decodes with tok (nil: none;
// the transcribing calls then fail). The copy shares the weights: Close on
// either releases them for both.
func (m *Model) WithTokenizer(tok *CTCTokenizer) *Model {
	c := *m
	c.tok = tok
	return &c
}

// check tells whether the model can take audio as fe prepares it: a
// positive sampling rate and one feature per sample. Errors wrap
// nn.ErrConfig.
func (fe FeatureExtractorConfig) check() error {
	if fe.SamplingRate <= 0 || fe.FeatureSize != 1 {
		return fmt.Errorf("%w: sampling_rate %d, feature_size %d (want a positive rate and 1)", nn.ErrConfig, fe.SamplingRate, fe.FeatureSize)
	}
	return nil
}

// WithFeatureExtractor returns a copy of the model that prepares audio as fe
// says (its sampling rate and normalisation); an fe the model cannot use
// is an error wrapping nn.ErrConfig. The copy shares the weights.
func (m *Model) WithFeatureExtractor(fe FeatureExtractorConfig) (*Model, error) {
	if err := fe.check(); err != nil {
		return nil, fmt.Errorf("wav2vec2: %w", err)
	}
	c := *m
	c.fe = fe
	return &c, nil
}

// errNoTokenizer is returned by the transcribing calls of a model without
// a tokenizer.
var errNoTokenizer = errors.New("wav2vec2: no tokenizer: the model was built with New (see WithTokenizer)")

// Network returns the network.
func (m *Model) Network() *Network { return m.net }

// Tokenizer returns the CTC tokenizer.
func (m *Model) Tokenizer() *CTCTokenizer { return m.tok }

// SampleRate returns the sampling rate the model expects, in Hz.
func (m *Model) SampleRate() int { return m.fe.SamplingRate }

// Normalize is Wav2Vec2FeatureExtractor's zero-mean unit-variance
// normalisation of a whole waveform; it is audio.Normalize.
func Normalize(pcm []float32) []float32 { return audio.Normalize(pcm) }

// InputValues returns the model input for mono samples at SampleRate():
// normalised when the feature extractor asks for it (do_normalize), else a
// copy. Non-finite samples and audio shorter than the feature encoder's
// receptive field are errors wrapping ErrInput.
func (m *Model) InputValues(pcm []float32) ([]float32, error) {
	for i, v := range pcm {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("%w: sample %d is %v", ErrInput, i, v)
		}
	}
	if m.net.cfg.OutputFrames(len(pcm)) < 1 {
		return nil, fmt.Errorf("%w: %d samples (%.1f ms) are too short for the feature encoder", ErrInput, len(pcm), 1000*float64(len(pcm))/float64(m.fe.SamplingRate))
	}
	if m.fe.DoNormalize {
		return Normalize(pcm), nil
	}
	return append([]float32(nil), pcm...), nil
}

// Logits returns the CTC logits [frames, vocab_size] of mono samples at
// SampleRate(), on the model's device (tensor.ToHost brings them to the
// host).
func (m *Model) Logits(ctx context.Context, pcm []float32) (*tensor.Tensor, error) {
	iv, err := m.InputValues(pcm)
	if err != nil {
		return nil, err
	}
	return m.net.Logits(ctx, iv)
}

// Options configure Transcribe. The zero value gives the text only, audio
// up to DefaultChunkLength (30 s) recognised in one pass and longer audio
// in chunks.
type Options struct {
	// WordTimestamps adds each word's start and end time
	// (transformers' pipeline with return_timestamps="word").
	WordTimestamps bool
	// ChunkLength, in seconds, cuts the audio into chunks recognised one
	// at a time, as transformers' speech-recognition pipeline does with
	// chunk_length_s: each chunk overlaps its neighbours by StrideLength on
	// each side, the CTC frames of the overlaps are dropped and the greedy
	// ids of the rest concatenated before CTC decoding, so memory no longer
	// grows with the audio (beyond the samples and one id per frame) and
	// words cut by a chunk boundary are recognised with context. Lengths
	// are rounded to whole frames (multiples of the feature encoder's
	// stride, 320 samples). 0 means DefaultChunkLength for audio longer
	// than that and one pass otherwise (the same result as transformers
	// without chunk_length_s); a positive value always chunks (one chunk
	// for shorter audio, which equals one pass); a negative value never
	// does (memory then grows with the square of the audio's length).
	ChunkLength float64
	// StrideLength, in seconds, is the overlap on each side of a chunk
	// (stride_length_s). 0 means ChunkLength/6, as in transformers; a
	// negative value means none. A chunk must be longer than its two
	// strides.
	StrideLength float64
}

// Word is a transcribed word with its time span in seconds.
type Word struct {
	Text  string  `json:"text"`
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// Result is the result of Transcribe (and of each recording of
// TranscribeBatch), named as whisper's.
type Result struct {
	// Text is the greedy CTC transcript, as transformers' speech-recognition
	// pipeline returns it.
	Text string `json:"text"`
	// Words holds word timings when Options.WordTimestamps is set.
	Words []Word `json:"words,omitempty"`
}

// Transcribe recognises speech in mono samples at SampleRate() (16 kHz for
// the published checkpoints) by greedy CTC decoding: the argmax of every
// frame, repeats collapsed, blanks dropped. Long audio is recognised in
// overlapping chunks (see Options.ChunkLength); the context is checked
// between chunks.
func (m *Model) Transcribe(ctx context.Context, pcm []float32, opt Options) (*Result, error) {
	if m.tok == nil {
		return nil, errNoTokenizer
	}
	plan, err := m.chunking(len(pcm), opt)
	if err != nil {
		return nil, err
	}
	ids, err := m.frameIDs(ctx, pcm, plan)
	if err != nil {
		return nil, err
	}
	return m.transcription(ids, opt), nil
}

// TranscribeReader decodes an audio file (any format the audio package
// reads), mixes it to mono, resamples it to SampleRate() and transcribes it.
func (m *Model) TranscribeReader(ctx context.Context, r io.Reader, opt Options) (*Result, error) {
	if m.tok == nil {
		return nil, errNoTokenizer
	}
	if _, err := m.chunking(0, opt); err != nil {
		return nil, err // options checked before the audio is decoded
	}
	pcm, err := audio.Load16k(r)
	if err != nil {
		return nil, fmt.Errorf("wav2vec2: %w", err)
	}
	if m.fe.SamplingRate != audio.SampleRate {
		if pcm, err = audio.Resample(pcm, audio.SampleRate, m.fe.SamplingRate); err != nil {
			return nil, fmt.Errorf("wav2vec2: %w", err)
		}
	}
	return m.Transcribe(ctx, pcm, opt)
}
