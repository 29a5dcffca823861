// Package goformer is the front door to goformer's models, the Go
// counterpart of transformers' pipeline(): Load takes a Hub id or a local
// folder, reads its config.json and returns the model of the family that
// runs it. What a model can do is told by the task interfaces it
// implements:
//
//	m, err := goformer.Load(ctx, "openai/whisper-base")
//	if err != nil { … }
//	defer m.Close()
//	if t, ok := m.(goformer.Transcriber); ok {
//		res, err := goformer.TranscribeReader(ctx, t, file, goformer.TranscribeOptions{})
//		fmt.Println(res.Text)
//	}
//
// LoadAs loads a model as the interface of the one task a program needs
// (goformer.LoadAs[goformer.Transcriber]), refusing a model that does not
// do it.
//
// Every built-in family (vit, clip, whisper, blip, blip2, vit-gpt2,
// wav2vec2, llava) is registered when this package is imported; Families
// lists them. A Chatter (LLaVA) holds conversations about images. The family
// packages stay available for what the task interfaces do not cover
// (teacher-forced logits, language detection, indexes of your own); each
// has the same shape: Load(dir, opts...), New(config, weights), Close.
//
// Errors for input a model cannot take (undecodable files, unknown
// languages, options a family does not have, limits exceeded) match
// ErrInput; asking a model for a task it does not do matches
// ErrUnsupported; an architecture no family runs matches
// ErrUnsupportedArchitecture. Models are safe for concurrent use, and every
// long call honours its context.
package goformer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/hub"
	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/task"
	"github.com/goformer/goformer/tensor"

	// The built-in families register themselves.
	_ "github.com/goformer/goformer/blip"
	_ "github.com/goformer/goformer/blip2"
	_ "github.com/goformer/goformer/clip"
	_ "github.com/goformer/goformer/gpt2"
	_ "github.com/goformer/goformer/llava"
	_ "github.com/goformer/goformer/vit"
	_ "github.com/goformer/goformer/wav2vec2"
	_ "github.com/goformer/goformer/whisper"
)

// The task vocabulary, from package task.
type (
	Model              = task.Model
	Info               = task.Info
	Classifier         = task.Classifier
	ClassifyOptions    = task.ClassifyOptions
	Prediction         = task.Prediction
	ZeroShotClassifier = task.ZeroShotClassifier
	ZeroShotOptions    = task.ZeroShotOptions
	LabelScore         = task.LabelScore
	Embedder           = task.Embedder
	Searcher           = task.Searcher
	Index              = task.Index
	IndexOptions       = task.IndexOptions
	Match              = task.Match
	IndexChanges       = task.IndexChanges
	Captioner          = task.Captioner
	CaptionOptions     = task.CaptionOptions
	CaptionResult      = task.CaptionResult
	Answerer           = task.Answerer
	AnswerOptions      = task.AnswerOptions
	AnswerResult       = task.AnswerResult
	Chatter            = task.Chatter
	Message            = task.Message
	ChatOptions        = task.ChatOptions
	ChatResult         = task.ChatResult
	Transcriber        = task.Transcriber
	TranscribeOptions  = task.TranscribeOptions
	Transcript         = task.Transcript
	Segment            = task.Segment
	Word               = task.Word
	Family             = task.Family
	OptionChecker      = task.OptionChecker
	OptionError        = task.OptionError
)

// Task names (Info.Tasks, DefaultModel).
const (
	TaskClassify   = task.Classify
	TaskZeroShot   = task.ZeroShot
	TaskEmbed      = task.Embed
	TaskSearch     = task.Search
	TaskTranscribe = task.Transcribe
	TaskTranslate  = task.Translate
	TaskCaption    = task.Caption
	TaskVQA        = task.VQA
	TaskChat       = task.Chat
)

// Roles of chat messages (Message.Role).
const (
	RoleSystem    = task.RoleSystem
	RoleUser      = task.RoleUser
	RoleAssistant = task.RoleAssistant
)

// Finish reasons of a chat answer (ChatResult.FinishReason).
const (
	FinishStop   = task.FinishStop
	FinishLength = task.FinishLength
)

var (
	// ErrInput is matched by every error for input a model cannot take.
	ErrInput = task.ErrInput
	// ErrUnsupported is matched by the error of asking a model for a task
	// it does not do.
	ErrUnsupported = task.ErrUnsupported
	// ErrUnsupportedArchitecture is matched when no family runs a
	// config.json's architecture.
	ErrUnsupportedArchitecture = nn.ErrUnsupportedArchitecture
	// ErrIndexMismatch is matched when Searcher.OpenIndex is given an index
	// made by another model.
	ErrIndexMismatch = task.ErrIndexMismatch
	// ErrIndexRoot is matched when Searcher.OpenIndex is given an index
	// built over another folder.
	ErrIndexRoot = task.ErrIndexRoot
)

// defaultModels are the models a task uses when none is named, as
// pipeline() has defaults.
var defaultModels = map[string]string{
	task.Classify:   "google/vit-base-patch16-224",
	task.ZeroShot:   "openai/clip-vit-base-patch32",
	task.Embed:      "openai/clip-vit-base-patch32",
	task.Search:     "openai/clip-vit-base-patch32",
	task.Transcribe: "openai/whisper-base",
	task.Translate:  "openai/whisper-base",
	task.Caption:    "Salesforce/blip-image-captioning-large",
	task.VQA:        "Salesforce/blip-vqa-base",
	task.Chat:       "llava-hf/llava-1.5-7b-hf",
}

// DefaultModel returns the Hub id used for a task when no model is named
// ("" for an unknown task).
func DefaultModel(taskName string) string { return defaultModels[taskName] }

// Families lists the registered families, sorted by name.
func Families() []Family { return task.Families() }

// Option configures Load.
type Option func(*options)

type options struct {
	load    task.LoadOptions
	hub     *hub.Client
	family  string
	threads int
}

// WithWeightType packs float32 weights of linear layers as t
// (tensor.WeightF16 or WeightBF16: half the memory), or quantizes the
// weights of linear layers to int8 (tensor.WeightQ8: a quarter of
// float32's memory, activations quantized on the fly), or makes linear
// layers compute in bfloat16 (tensor.WeightBF16Dot, with AVX512-BF16).
func WithWeightType(t tensor.WeightType) Option { return func(o *options) { o.load.WeightType = t } }

// WithKVType keeps decoders' cross-attention keys and values as t.
func WithKVType(t tensor.WeightType) Option { return func(o *options) { o.load.KVType = t } }

// WithSelfKVType keeps decoders' self-attention caches (the keys and
// values of the positions decoded so far) as t, tensor.WeightF16 or
// WeightBF16 (see nn.WithSelfKVType: it rounds more than WithKVType).
func WithSelfKVType(t tensor.WeightType) Option {
	return func(o *options) { o.load.SelfKVType = t }
}

// WithDevice loads the model onto device d (nil: the host, the
// default): its weights are uploaded and packed there at load, its forward
// passes run there, and Close frees the device memory. See OpenDevice.
func WithDevice(d *tensor.Device) Option { return func(o *options) { o.load.Device = d } }

// WithThreads makes the model compute on the host with n goroutines (n ≥
// 1) instead of the process-wide tensor.Threads(): the model gets a CPU
// device of its own (tensor.NewCPUDevice), so that models loaded with
// different counts keep to them in one process. Results are the same as
// on the host. It cannot be combined with WithDevice.
func WithThreads(n int) Option { return func(o *options) { o.threads = n } }

// OpenDevice returns the device a name designates: "cpu" (or "") is the
// host (nil), "check" a new checking device (tensor.NewCheckingDevice: the
// host's results, with host reads of device tensors refused), "cuda" or
// "cuda:N" an NVIDIA GPU (a build with -tags cuda; an error otherwise).
func OpenDevice(name string) (*tensor.Device, error) {
	switch name = strings.ToLower(strings.TrimSpace(name)); {
	case name == "" || name == "cpu":
		return nil, nil
	case name == "check":
		return tensor.NewCheckingDevice(), nil
	case name == "cuda" || strings.HasPrefix(name, "cuda:"):
		n := 0
		if rest, ok := strings.CutPrefix(name, "cuda:"); ok {
			v, err := strconv.Atoi(rest)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("%w: device %q: want cuda:N with N a device number", task.ErrInput, name)
			}
			n = v
		}
		return openCUDA(n)
	}
	return nil, fmt.Errorf("%w: unknown device %q (want cpu, check, cuda or cuda:N)", task.ErrInput, name)
}

// WithHub fetches Hub ids with c instead of a client configured from the
// environment (hub.New()).
func WithHub(c *hub.Client) Option { return func(o *options) { o.hub = c } }

// WithFamily names the family of a checkpoint that has no config.json
// (OpenAI's own Whisper or CLIP .pt files): "whisper" or "clip". Without
// it, every family that reads such files is tried in turn.
func WithFamily(name string) Option { return func(o *options) { o.family = name } }

// Load resolves ref — a Hub id ("org/name", optionally "@revision"), a
// local folder in the Hub layout, or a checkpoint file — and loads it with
// the family its config.json names. Hub ids are downloaded into the
// huggingface_hub cache on first use (HF_HOME, HF_HUB_CACHE, HF_ENDPOINT,
// HF_TOKEN and HF_HUB_OFFLINE are honoured).
func Load(ctx context.Context, ref string, opts ...Option) (Model, error) {
	o, err := parseOptions(opts)
	if err != nil {
		return nil, err
	}
	path, err := resolve(ctx, ref, o.hub)
	if err != nil {
		return nil, err
	}
	return loadPath(path, o)
}

// LoadAs loads ref as Load does and returns it as T, the task interface a
// program needs (Classifier, ZeroShotClassifier, Embedder, Searcher,
// Transcriber, Captioner, Answerer or Chatter), together with the Model,
// which the caller closes. A model that does not do T's task (it does not
// implement T, or its Info does not list the task) is closed and the error
// matches ErrUnsupported, naming the tasks it does.
func LoadAs[T any](ctx context.Context, ref string, opts ...Option) (T, Model, error) {
	var zero T
	m, err := Load(ctx, ref, opts...)
	if err != nil {
		return zero, nil, err
	}
	name, listed := taskOf[T]()
	t, ok := m.(T)
	if !ok || (listed && !m.Info().Does(name)) {
		err := task.Unsupported(ref, m, name)
		m.Close()
		return zero, nil, err
	}
	return t, m, nil
}

// taskOf returns the task whose interface T is, and whether it is one of
// the task interfaces (else it returns T's name).
func taskOf[T any]() (string, bool) {
	switch any((*T)(nil)).(type) {
	case *Classifier:
		return TaskClassify, true
	case *ZeroShotClassifier:
		return TaskZeroShot, true
	case *Embedder:
		return TaskEmbed, true
	case *Searcher:
		return TaskSearch, true
	case *Transcriber:
		return TaskTranscribe, true
	case *Captioner:
		return TaskCaption, true
	case *Answerer:
		return TaskVQA, true
	case *Chatter:
		return TaskChat, true
	}
	return reflect.TypeFor[T]().String(), false
}

// Resolve returns the local path of ref: an existing file or folder as it
// is, else a Hub id fetched into the cache with c (nil: hub.New()).
func Resolve(ctx context.Context, ref string, c *hub.Client) (string, error) {
	return resolve(ctx, ref, c)
}

func resolve(ctx context.Context, ref string, c *hub.Client) (string, error) {
	if ref == "" {
		return "", errors.New("goformer: no model given (a Hub id such as openai/whisper-tiny, or a local folder)")
	}
	if _, err := os.Stat(ref); err == nil {
		return ref, nil
	}
	if looksLikePath(ref) {
		return "", fmt.Errorf("model %s: %w", ref, os.ErrNotExist)
	}
	if c == nil {
		c = hub.New()
	}
	dir, err := c.Resolve(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("model %s: %w", ref, err)
	}
	return dir, nil
}

// looksLikePath reports whether ref is meant as a file system path rather
// than a Hub id.
func looksLikePath(ref string) bool {
	return strings.HasPrefix(ref, ".") || strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "~") ||
		filepath.IsAbs(ref) || strings.Count(ref, "/") > 1 || strings.ContainsRune(ref, '\\') ||
		strings.HasSuffix(ref, ".pt") || strings.HasSuffix(ref, ".bin") || strings.HasSuffix(ref, ".safetensors")
}

// parseOptions applies opts to the zero options.
func parseOptions(opts []Option) (options, error) {
	var o options
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	switch {
	case o.threads < 0:
		return o, fmt.Errorf("%w: %d threads", task.ErrInput, o.threads)
	case o.threads > 0 && o.load.Device != nil:
		return o, fmt.Errorf("%w: threads (%d) apply to the host; the model is on device %s", task.ErrInput, o.threads, o.load.Device.Name())
	case o.threads > 0:
		o.load.Device = tensor.NewCPUDevice(o.threads)
	}
	return o, nil
}

func loadPath(path string, o options) (Model, error) {
	if err := nn.CheckWeightType(o.load.WeightType); err != nil {
		return nil, err
	}
	if err := nn.CheckKVType(o.load.KVType); err != nil {
		return nil, err
	}
	if err := nn.CheckKVType(o.load.SelfKVType); err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		if _, err := os.Stat(filepath.Join(path, "config.json")); err == nil {
			f, arch, err := detect(path)
			if err != nil {
				return nil, err
			}
			m, err := f.Load(path, o.load)
			if err != nil {
				return nil, fmt.Errorf("loading %s model %s (%s): %w", f.Name, path, arch, err)
			}
			return m, nil
		}
	}
	return loadFile(path, st.IsDir(), o)
}

// configHead is the part of config.json that chooses the family.
type configHead struct {
	Architectures []string `json:"architectures"`
	ModelType     string   `json:"model_type"`
}

// detect reads dir/config.json and returns the family that runs it and the
// architecture (or model type) that chose it.
func detect(dir string) (Family, string, error) {
	path := filepath.Join(dir, "config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return Family{}, "", fmt.Errorf("%s: %w", dir, err)
	}
	var cfg configHead
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return Family{}, "", fmt.Errorf("%s: %w: %v", path, nn.ErrConfig, err)
	}
	known := strings.Join(task.Architectures(), ", ")
	if len(cfg.Architectures) > 0 && cfg.Architectures[0] != "" {
		arch := cfg.Architectures[0]
		if f, ok := task.Lookup(arch, ""); ok {
			return f, arch, nil
		}
		return Family{}, arch, fmt.Errorf("%s: architecture %q (model_type %q): %w (goformer runs %s)",
			path, arch, cfg.ModelType, nn.ErrUnsupportedArchitecture, known)
	}
	if cfg.ModelType == "" {
		return Family{}, "", fmt.Errorf("%s: neither architectures nor model_type is set: %w", path, nn.ErrUnsupportedArchitecture)
	}
	if f, ok := task.Lookup("", cfg.ModelType); ok {
		return f, cfg.ModelType, nil
	}
	return Family{}, cfg.ModelType, fmt.Errorf("%s: model_type %q: %w (goformer runs %s)",
		path, cfg.ModelType, nn.ErrUnsupportedArchitecture, known)
}

// loadFile loads a checkpoint without config.json through the families
// that read their original format (OpenAI's Whisper and CLIP files).
func loadFile(path string, isDir bool, o options) (Model, error) {
	var tried []string
	var errs []error
	for _, f := range task.Families() {
		if f.LoadFile == nil || (o.family != "" && f.Name != o.family) {
			continue
		}
		m, err := f.LoadFile(path, o.load)
		if err == nil {
			return m, nil
		}
		tried = append(tried, f.Name)
		errs = append(errs, fmt.Errorf("not a %s checkpoint: %w", f.Name, err))
	}
	// Whisper first: its error is the one to show for a lone .pt file.
	if len(errs) == 0 {
		return nil, fmt.Errorf("%s: %w: no family named %q reads checkpoints without config.json", path, nn.ErrUnsupportedArchitecture, o.family)
	}
	err := errors.Join(errs...)
	if len(errs) == 1 {
		err = errs[0]
	}
	if isDir {
		return nil, fmt.Errorf("%s: no config.json, and %w", path, err)
	}
	return nil, fmt.Errorf("loading %s (tried %s): %w", path, strings.Join(tried, ", "), err)
}

// TranscribeReader decodes an audio file (WAV, FLAC, MP3, Ogg Vorbis) to
// mono PCM at t's sample rate and transcribes it.
func TranscribeReader(ctx context.Context, t Transcriber, r io.Reader, opt TranscribeOptions) (*Transcript, error) {
	pcm, err := DecodeAudio(r, t.SampleRate())
	if err != nil {
		return nil, err
	}
	return t.Transcribe(ctx, pcm, opt)
}

// DecodeAudio reads an audio file's samples as mono at rate Hz.
func DecodeAudio(r io.Reader, rate int) ([]float32, error) {
	buf, err := audio.Decode(r)
	if err != nil {
		return nil, err
	}
	return audio.Resample(buf.Mono(), buf.SampleRate, rate)
}

// DecodeImage decodes an image file (JPEG, PNG, GIF, WebP, BMP) the way
// the vision families' processors expect (EXIF orientation applied, bounded
// memory): imageproc.Decode.
func DecodeImage(r io.Reader) (image.Image, error) { return imageproc.Decode(r) }

// DecodeImageFile decodes the image file at path as DecodeImage does; its
// errors name the file.
func DecodeImageFile(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := DecodeImage(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}
