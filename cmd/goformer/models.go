package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/goformer/goformer/blip"
	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/clip"
	"github.com/goformer/goformer/gpt2"
	"github.com/goformer/goformer/hub"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/vit"
	"github.com/goformer/goformer/wav2vec2"
	"github.com/goformer/goformer/whisper"
)

// family is an implementation goformer runs.
type family int

const (
	famUnknown family = iota
	famViT
	famCLIP
	famWhisper
	famBLIP // captioning or question answering: blip.Load tells which
	famViTGPT2
	famWav2Vec2
)

func (f family) String() string {
	switch f {
	case famViT:
		return "vit"
	case famCLIP:
		return "clip"
	case famWhisper:
		return "whisper"
	case famBLIP:
		return "blip"
	case famViTGPT2:
		return "vit-gpt2"
	case famWav2Vec2:
		return "wav2vec2"
	}
	return "unknown"
}

// byArchitecture maps config.json's architectures[0] (the transformers class)
// to the implementation that runs it.
var byArchitecture = map[string]family{
	"ViTForImageClassification":       famViT,
	"ViTModel":                        famViT,
	"CLIPModel":                       famCLIP,
	"WhisperForConditionalGeneration": famWhisper,
	"BlipForConditionalGeneration":    famBLIP,
	"BlipForQuestionAnswering":        famBLIP,
	"VisionEncoderDecoderModel":       famViTGPT2,
	"Wav2Vec2ForCTC":                  famWav2Vec2,
}

// byModelType is the fallback for a config.json without architectures.
var byModelType = map[string]family{
	"vit":                    famViT,
	"clip":                   famCLIP,
	"whisper":                famWhisper,
	"blip":                   famBLIP,
	"vision-encoder-decoder": famViTGPT2,
	"wav2vec2":               famWav2Vec2,
}

// Tasks a model can serve.
const (
	taskClassify   = "classify"
	taskZeroShot   = "zeroshot"
	taskEmbed      = "embed"
	taskSearch     = "search"
	taskTranscribe = "transcribe"
	taskTranslate  = "translate"
	taskCaption    = "caption"
	taskVQA        = "vqa"
)

// model is a loaded checkpoint of one family. Exactly one of the
// implementation fields is set. Every implementation is immutable after
// loading and safe for concurrent use, so one model serves every request.
type model struct {
	// Name is how the model was asked for (a Hub id or a path), or the name
	// given on the serve command line.
	Name string
	// Path is the local directory (or checkpoint file) it was loaded from.
	Path string
	// Arch is the architecture that chose the implementation: config.json's
	// architectures[0], else its model_type.
	Arch string

	vit     *vit.Model
	clip    *clip.Model
	whisper *whisper.Model
	blip    *blip.Model
	vitgpt2 *gpt2.Captioner
	w2v     *wav2vec2.Model
}

// Tasks lists what the model does.
func (m *model) Tasks() []string {
	switch {
	case m.vit != nil:
		return []string{taskClassify}
	case m.clip != nil:
		return []string{taskZeroShot, taskEmbed, taskSearch}
	case m.whisper != nil:
		return []string{taskTranscribe, taskTranslate}
	case m.blip != nil && m.blip.Task() == blip.TaskQuestionAnswering:
		return []string{taskVQA}
	case m.blip != nil:
		return []string{taskCaption}
	case m.vitgpt2 != nil:
		return []string{taskCaption}
	case m.w2v != nil:
		return []string{taskTranscribe}
	}
	return nil
}

// Supports reports whether the model does task.
func (m *model) Supports(task string) bool {
	for _, t := range m.Tasks() {
		if t == task {
			return true
		}
	}
	return false
}

// Family names the implementation.
func (m *model) Family() string {
	switch {
	case m.vit != nil:
		return famViT.String()
	case m.clip != nil:
		return famCLIP.String()
	case m.whisper != nil:
		return famWhisper.String()
	case m.blip != nil:
		return famBLIP.String()
	case m.vitgpt2 != nil:
		return famViTGPT2.String()
	case m.w2v != nil:
		return famWav2Vec2.String()
	}
	return famUnknown.String()
}

// Close releases memory-mapped weights. The model must not be used after.
func (m *model) Close() error {
	switch {
	case m.vit != nil:
		return m.vit.Close()
	case m.clip != nil:
		return m.clip.Close()
	case m.whisper != nil:
		return m.whisper.Close()
	case m.blip != nil:
		return m.blip.Close()
	}
	return nil
}

// errWrongTask is returned (via errors.Is) when a model is asked for a task
// it does not do.
var errWrongTask = errors.New("model does not support this task")

type wrongTaskError struct{ msg string }

func (e *wrongTaskError) Error() string        { return e.msg }
func (e *wrongTaskError) Is(target error) bool { return target == errWrongTask }

// wrongTask explains which tasks the model does instead.
func (m *model) wrongTask(task string) error {
	kind := m.Family()
	if m.Arch != "" && m.Arch != kind {
		kind += " (" + m.Arch + ")"
	}
	return &wrongTaskError{fmt.Sprintf("%s is a %s model: it does %s, not %s", m.Name, kind, strings.Join(m.Tasks(), ", "), task)}
}

// modelConfig is the part of config.json that chooses the implementation.
type modelConfig struct {
	Architectures []string `json:"architectures"`
	ModelType     string   `json:"model_type"`
}

// detectFamily reads dir/config.json and returns the family that runs it and
// the architecture name it was chosen by. An architecture (or, without one,
// a model type) goformer does not run is an error wrapping
// nn.ErrUnsupportedArchitecture that names it.
func detectFamily(dir string) (family, string, error) {
	path := filepath.Join(dir, "config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return famUnknown, "", fmt.Errorf("%s: %w", dir, err)
	}
	var cfg modelConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return famUnknown, "", fmt.Errorf("%s: %w: %v", path, nn.ErrConfig, err)
	}
	if len(cfg.Architectures) > 0 && cfg.Architectures[0] != "" {
		arch := cfg.Architectures[0]
		if f, ok := byArchitecture[arch]; ok {
			return f, arch, nil
		}
		return famUnknown, arch, fmt.Errorf("%s: architecture %q (model_type %q): %w (goformer runs %s)",
			path, arch, cfg.ModelType, nn.ErrUnsupportedArchitecture, strings.Join(knownArchitectures(), ", "))
	}
	if f, ok := byModelType[cfg.ModelType]; ok {
		return f, cfg.ModelType, nil
	}
	if cfg.ModelType == "" {
		return famUnknown, "", fmt.Errorf("%s: neither architectures nor model_type is set: %w", path, nn.ErrUnsupportedArchitecture)
	}
	return famUnknown, cfg.ModelType, fmt.Errorf("%s: model_type %q: %w (goformer runs %s)",
		path, cfg.ModelType, nn.ErrUnsupportedArchitecture, strings.Join(knownArchitectures(), ", "))
}

func knownArchitectures() []string {
	var names []string
	for a := range byArchitecture {
		names = append(names, a)
	}
	sort.Strings(names)
	return names
}

// loader resolves model references and loads them.
type loader struct {
	// hub fetches Hub ids; nil uses hub.New() configured from the environment.
	hub *hub.Client
	// stderr receives download progress when it is a terminal.
	stderr io.Writer
	// weightType is what float32 weights are packed as (-weights); kvType
	// what decoders keep cross-attention keys and values as (-kv).
	weightType, kvType tensor.WeightType
}

// resolve returns the local path of a model reference: an existing file or
// directory as it is, else a Hub id ("org/name[@revision]") downloaded into
// the Hub cache.
func (l *loader) resolve(ctx context.Context, ref string) (string, error) {
	if ref == "" {
		return "", errors.New("no model given (-model takes a Hub id such as openai/whisper-tiny, or a local directory)")
	}
	if _, err := os.Stat(ref); err == nil {
		return ref, nil
	}
	if looksLikePath(ref) {
		return "", fmt.Errorf("model %s: %w", ref, os.ErrNotExist)
	}
	c := l.hub
	if c == nil {
		c = hub.New()
		if bar := newDownloadProgress(l.stderr); bar != nil {
			c.Progress = bar.update
			defer bar.finish()
		}
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

// load resolves ref and loads it with the implementation its config.json
// names. hint chooses the family for a checkpoint without config.json (an
// OpenAI .pt file or a directory holding one): famWhisper or famCLIP; with
// famUnknown both are tried, Whisper first.
func (l *loader) load(ctx context.Context, ref string, hint family) (*model, error) {
	path, err := l.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	m, err := loadPathAs(path, hint, l.weightType, l.kvType)
	if err != nil {
		return nil, err
	}
	m.Name = ref
	return m, nil
}

// loadPath loads a local model directory or checkpoint file.
func loadPath(path string, hint family) (*model, error) {
	return loadPathAs(path, hint, tensor.WeightF32, tensor.WeightF32)
}

// loadPathAs is loadPath packing float32 weights as wt and keeping decoder
// cross-attention keys and values as kt.
func loadPathAs(path string, hint family, wt, kt tensor.WeightType) (*model, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	m := &model{Name: path, Path: path}
	hasConfig := false
	if st.IsDir() {
		_, err := os.Stat(filepath.Join(path, "config.json"))
		hasConfig = err == nil
	}
	if !hasConfig {
		return loadOpenAI(m, st.IsDir(), hint, wt, kt)
	}
	fam, arch, err := detectFamily(path)
	if err != nil {
		return nil, err
	}
	m.Arch = arch
	switch fam {
	case famViT:
		m.vit, err = vit.Load(path, vit.WithWeightType(wt))
	case famCLIP:
		m.clip, err = clip.LoadWith(path, clip.LoadOptions{WeightType: wt})
	case famWhisper:
		m.whisper, err = whisper.Load(path, whisper.WithWeightType(wt), whisper.WithKVType(kt))
	case famBLIP:
		m.blip, err = blip.Load(path, blip.WithWeightType(wt), blip.WithKVType(kt))
		if err == nil {
			// A config without architectures is told apart by its weights.
			if m.Arch == "blip" {
				m.Arch = m.blip.Task().String()
			}
		}
	case famViTGPT2:
		m.vitgpt2, err = gpt2.LoadCaptioner(path, gpt2.WithWeightType(wt), gpt2.WithKVType(kt))
	case famWav2Vec2:
		m.w2v, err = wav2vec2.Load(path)
	}
	if err != nil {
		return nil, fmt.Errorf("loading %s model %s: %w", fam, path, err)
	}
	return m, nil
}

// loadOpenAI loads a checkpoint in OpenAI's own format: a Whisper .pt file
// (dims + model_state_dict) or a CLIP checkpoint (TorchScript archive or
// state dict), chosen by hint.
func loadOpenAI(m *model, isDir bool, hint family, wt, kt tensor.WeightType) (*model, error) {
	path := m.Path
	tryWhisper := func() error {
		w, err := whisper.Load(path, whisper.WithWeightType(wt), whisper.WithKVType(kt))
		if err != nil {
			return err
		}
		m.whisper, m.Arch = w, "openai-whisper"
		return nil
	}
	tryCLIP := func() error {
		p := path
		if isDir {
			pt, err := singleCheckpoint(path)
			if err != nil {
				return err
			}
			p = pt
		}
		c, err := clip.LoadWith(p, clip.LoadOptions{WeightType: wt})
		if err != nil {
			return err
		}
		m.clip, m.Arch = c, "openai-clip"
		return nil
	}
	var err error
	switch hint {
	case famWhisper:
		err = tryWhisper()
	case famCLIP:
		err = tryCLIP()
	default:
		if err = tryWhisper(); err != nil {
			if errCLIP := tryCLIP(); errCLIP == nil {
				err = nil
			} else {
				err = fmt.Errorf("not a Whisper checkpoint (%v) nor a CLIP checkpoint (%w)", err, errCLIP)
			}
		}
	}
	if err != nil {
		if isDir {
			return nil, fmt.Errorf("%s: no config.json, and %w", path, err)
		}
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	return m, nil
}

// singleCheckpoint returns the one .pt file of dir.
func singleCheckpoint(dir string) (string, error) {
	matches, _ := filepath.Glob(filepath.Join(dir, "*.pt"))
	if len(matches) != 1 {
		return "", fmt.Errorf("%s: %w (and %d .pt checkpoint files, need exactly one)", dir, checkpoint.ErrNotFound, len(matches))
	}
	return matches[0], nil
}
